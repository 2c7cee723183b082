// Internals behind the public Model / Session (mblip/mblip.h): what a loaded model and a
// per-thread session hold. The stage order itself lives in session.cpp (the pipeline).
#pragma once
#include <memory>
#include <string>
#include <vector>

// Internal headers first: model/mblip_model.h and image/image.h declare their own LoadOptions /
// DecodeOptions in namespace mblip, which the public ones (inline namespace mblip::api) would
// make ambiguous inside those headers if mblip.h came first.
#include "image/image.h"
#include "kernels/thread_pool.h"
#include "model/mblip_model.h"
#include "tokenizer/tokenizer.h"
// (keep this last)
#include "mblip/mblip.h"

namespace mblip {

struct Model::Impl {
  std::unique_ptr<MBlipModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  ModelInfo info;
  int threads = 0;
  // Generated ids the tokenizer can decode (the LM head may be padded beyond the vocabulary).
  std::vector<int32_t> decodable(const std::vector<int32_t>& ids) const;
};

struct Session::Impl {
  std::shared_ptr<const Model> owner;  // keeps the weights alive
  const Model::Impl& m;
  ThreadPool pool;
  Impl(std::shared_ptr<const Model> o, int threads)
      : owner(std::move(o)), m(owner->impl()), pool(threads) {}
};

}  // namespace mblip
