// mblip-synth-hf CLI: writes a synthetic Hugging Face mBLIP checkpoint directory (real shapes,
// random float32 weights) as sharded .bin or safetensors, to exercise mblip-convert at scale.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "synth_hf/hf_checkpoint.h"

namespace {

int usage(int code) {
  std::fprintf(code ? stderr : stdout,
      "usage: mblip-synth-hf OUT_DIR [--preset full|mini|tiny] [--format bin|safetensors] [--shards N] [--seed S]\n"
      "                      [--outliers N] [--outlier-factors MIN,MAX] [--outlier-compensation A]\n"
      "Writes a Hugging Face Blip2ForConditionalGeneration checkpoint with random float32 weights:\n"
      "full = Gregor/mblip-mt0-xl shapes (~20 GB), mini = the small demo shapes, tiny = test size.\n"
      "Defaults: full, bin, 2 shards (like the real release), seed 1. Deterministic; not a trained model.\n"
      "--outliers N plants activation outliers like real LLMs show: N channels per site (e.g. 3) whose\n"
      "activations are MIN..MAX times the typical size (default 50,200) at the input of the ViT qkv / fc1 /\n"
      "attention projection, the Q-Former attention outputs and the T5 q/k/v, o, wi and wo linears\n"
      "(norm weights or value / FFN rows scaled, the consuming weights' columns divided by the same\n"
      "factor^A; A = 1, the default, is exact: the float32 model computes the same function as without\n"
      "outliers, but those weight columns become tiny for block quantization; A = 0.5 keeps them at a\n"
      "typical size and lets the outlier channels weigh sqrt(factor) times more, as in trained models).\n");
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
    if (a == "--preset" || a == "--format" || a == "--shards" || a == "--seed" || a == "--outliers" ||
        a == "--outlier-factors" || a == "--outlier-compensation") {
      if (i + 1 >= argc) { std::fprintf(stderr, "mblip-synth-hf: %s needs a value\n", a.c_str()); return 2; }
      const std::string v = argv[++i];
      char* end = nullptr;
      if (a == "--preset") o.preset = v;
      else if (a == "--format") o.format = v;
      else if (a == "--shards") { o.shards = static_cast<int>(std::strtol(v.c_str(), &end, 10)); if (*end) return usage(2); }
      else if (a == "--outliers") {
        const long n = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end || n < 0 || n > 64) {
          std::fprintf(stderr, "mblip-synth-hf: --outliers must be an integer in 0..64, got '%s'\n", v.c_str());
          return 2;
        }
        o.outliers.channels = static_cast<int>(n);
      } else if (a == "--outlier-factors") {
        const float lo = std::strtof(v.c_str(), &end);
        const float hi = (*end == ',') ? std::strtof(end + 1, &end) : 0.f;
        if (v.empty() || *end || !(lo > 0) || !(hi >= lo)) {
          std::fprintf(stderr, "mblip-synth-hf: --outlier-factors must be MIN,MAX with 0 < MIN <= MAX, got '%s'\n",
                       v.c_str());
          return 2;
        }
        o.outliers.min_factor = lo;
        o.outliers.max_factor = hi;
      } else if (a == "--outlier-compensation") {
        const float c = std::strtof(v.c_str(), &end);
        if (v.empty() || *end || !(c >= 0.f && c <= 1.f)) {
          std::fprintf(stderr, "mblip-synth-hf: --outlier-compensation must be in 0..1, got '%s'\n", v.c_str());
          return 2;
        }
        o.outliers.compensation = c;
      }
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
  const bool tty = isatty(2) != 0;
  o.progress = [&](size_t done, size_t total, uint64_t bytes) {
    if (!tty && done != total) return;  // a live counter on a terminal only
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "%smblip-synth-hf: tensor %zu/%zu  %.1f MB  %.1f s", tty ? "\r" : "", done, total, bytes / 1048576.0, s);
    if (done == total) std::fprintf(stderr, "\n");
  };
  mblip::Status st = mblip::write_synthetic_hf_checkpoint(o);
  if (!st.ok()) {
    std::fprintf(stderr, "\nmblip-synth-hf: error: %s\n", st.to_string().c_str());
    return 1;
  }
  std::printf("wrote %s (%s preset, %s, seed %llu", o.out_dir.c_str(), o.preset.c_str(), o.format.c_str(),
              static_cast<unsigned long long>(o.seed));
  if (o.outliers.channels > 0)
    std::printf(", %d outlier channels per site, factors %g..%g", o.outliers.channels, o.outliers.min_factor,
                o.outliers.max_factor);
  std::printf(")\n");
  return 0;
}
