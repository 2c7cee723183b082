// libFuzzer main for one target of fuzz/targets.h (MBLIP_FUZZ_TARGET, set per executable).
// A crash, sanitizer report, or an unclean Status (kInternal / empty message) aborts the run.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "targets.h"
#include "tokenizer/tokenizer.h"

namespace {

struct State {
  const mblip_fuzz::Target* target = nullptr;
  mblip_fuzz::Context ctx;
  std::unique_ptr<mblip::Tokenizer> tokenizer;
};

State& state() {
  static State s;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  State& s = state();
  s.target = mblip_fuzz::find_target(MBLIP_FUZZ_TARGET);
  if (!s.target) {
    std::fprintf(stderr, "unknown fuzz target %s\n", MBLIP_FUZZ_TARGET);
    std::abort();
  }
  const char* dir = std::getenv("MBLIP_FUZZ_SCRATCH");
  s.ctx.scratch_path = std::string(dir ? dir : "/tmp") + "/mblip_fuzz_" + MBLIP_FUZZ_TARGET + "_" +
                       std::to_string(::getpid());
  if (s.target->needs_tokenizer) {
    const char* spm = std::getenv("MBLIP_FUZZ_SPM");
    std::string error;
    s.tokenizer = mblip_fuzz::load_tokenizer(spm ? spm : MBLIP_FUZZ_SPM_DEFAULT, &error);
    if (!s.tokenizer) {
      std::fprintf(stderr, "fuzz target %s needs a tokenizer (set MBLIP_FUZZ_SPM): %s\n", MBLIP_FUZZ_TARGET,
                   error.c_str());
      std::abort();
    }
    s.ctx.tokenizer = s.tokenizer.get();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const State& s = state();
  const mblip::Status st = s.target->fn(s.ctx, data, size);
  if (!mblip_fuzz::is_clean(st)) {
    std::fprintf(stderr, "unclean status from %s: %s\n", MBLIP_FUZZ_TARGET, st.to_string().c_str());
    std::abort();
  }
  return 0;
}
