// mblip-synth-hf CLI: writes a synthetic Hugging Face mBLIP checkpoint directory (real shapes,
// random float32 weights) as sharded .bin or safetensors, to exercise mblip-convert at scale.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "synth_hf/hf_checkpoint.h"

namespace {

int usage(int code) {
  std::fprintf(code ? stderr : stdout,
      "usage: mblip-synth-hf OUT_DIR [--preset full|mini] [--format bin|safetensors] [--shards N] [--seed S]\n"
      "Writes a Hugging Face Blip2ForConditionalGeneration checkpoint with random float32 weights:\n"
      "full = Gregor/mblip-mt0-xl shapes (~20 GB), mini = the small demo shapes. Defaults: full, bin,\n"
      "2 shards (like the real release), seed 1. Deterministic; not a trained model.\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  mblip::SynthHfOptions o;
  o.preset = "full";
  o.shards = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return usage(0);
    if (a == "--preset" || a == "--format" || a == "--shards" || a == "--seed") {
      if (i + 1 >= argc) { std::fprintf(stderr, "mblip-synth-hf: %s needs a value\n", a.c_str()); return 2; }
      const std::string v = argv[++i];
      char* end = nullptr;
      if (a == "--preset") o.preset = v;
      else if (a == "--format") o.format = v;
      else if (a == "--shards") { o.shards = static_cast<int>(std::strtol(v.c_str(), &end, 10)); if (*end) return usage(2); }
      else { o.seed = std::strtoull(v.c_str(), &end, 10); if (*end) return usage(2); }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "mblip-synth-hf: unknown option '%s'\n", a.c_str());
      return usage(2);
    } else if (o.out_dir.empty()) {
      o.out_dir = a;
    } else {
      return usage(2);
    }
  }
  if (o.out_dir.empty()) return usage(2);
  const auto t0 = std::chrono::steady_clock::now();
  o.progress = [&](size_t done, size_t total, uint64_t bytes) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "\rmblip-synth-hf: tensor %zu/%zu  %.1f MB  %.1f s", done, total, bytes / 1048576.0, s);
    if (done == total) std::fprintf(stderr, "\n");
  };
  mblip::Status st = mblip::write_synthetic_hf_checkpoint(o);
  if (!st.ok()) {
    std::fprintf(stderr, "\nmblip-synth-hf: error: %s\n", st.to_string().c_str());
    return 1;
  }
  std::printf("wrote %s (%s preset, %s, seed %llu)\n", o.out_dir.c_str(), o.preset.c_str(), o.format.c_str(),
              static_cast<unsigned long long>(o.seed));
  return 0;
}
