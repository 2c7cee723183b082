// Fuzz entry functions shared by the libFuzzer mains (fuzz/fuzz_main.cpp) and the Catch2
// regression test (tests/test_fuzz_regressions.cpp): one function per hostile-input surface.
// Each returns a Status; a "clean" one is ok or a typed, non-internal error with a message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mblip/status.h"

namespace mblip {
class Tokenizer;
}

namespace mblip_fuzz {

// What some targets need besides the input bytes.
struct Context {
  std::string scratch_path;                 // file the file-based readers are fed through
  const mblip::Tokenizer* tokenizer = nullptr;  // tokenize / detokenize: a real model's tokenizer
};

using EntryFn = mblip::Status (*)(const Context&, const uint8_t*, size_t);
struct Target {
  const char* name;
  EntryFn fn;
  bool needs_tokenizer;
};

// gguf, safetensors, torch_bin, pickle, image, spm_model, tokenize, detokenize.
const std::vector<Target>& all_targets();
const Target* find_target(const std::string& name);

// Loads the tokenizer of a sentencepiece model file (the golden spiece.model); nullptr on error.
std::unique_ptr<mblip::Tokenizer> load_tokenizer(const std::string& spm_path, std::string* error);

// ok, or an error of a typed code other than kInternal whose message is not empty.
bool is_clean(const mblip::Status& st);

}  // namespace mblip_fuzz
