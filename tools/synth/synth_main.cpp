// mblip-synth: writes a GGUF model with random but well-scaled weights and real shapes
// (--preset full = Gregor/mblip-mt0-xl; mini = the small bundled demo model), any weight
// recipe, and a synthetic sentencepiece model covering every id the head can produce.
// Deterministic from --seed. Not a trained model: its captions are random syllables.
#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "convert/recipe.h"
#include "io/gguf.h"
#include "io/quant.h"
#include "model/config.h"
#include "model/tensor_names.h"
#include "synth/spm_writer.h"
#include "synth/synth_fill.h"
#include "synth/synth_outliers.h"

namespace mblip {
namespace {

int usage(int code) {
  std::fprintf(code ? stderr : stdout,
      "usage: mblip-synth OUT.gguf [--preset full|mini|tiny] [--seed N] [--force] [--outliers N]\n"
      "                   [--weights T] [--vision T] [--qformer T] [--projection T] [--text T]\n"
      "                   [--embeddings T] [--lm-head T] [--tensor GLOB=T]   (T: f32, f16, q8_0, q4_0)\n"
      "Writes a model with random weights and real shapes (full = Gregor/mblip-mt0-xl).\n"
      "Without --weights: mblip-convert's default recipe (tools/convert/recipe.h default_recipe()),\n"
      "with the component / --tensor options given on top, exactly as mblip-convert does.\n"
      "--outliers N: N activation-outlier channels per site, 50-200x (see mblip-synth-hf --help).\n");
  return code;
}

int run(int argc, char** argv) {
  std::string out, preset = "full";
  uint64_t seed = 1;
  bool force = false;
  synth::OutlierOptions outliers;
  Recipe given;
  bool weights_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "mblip-synth: %s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "-h" || a == "--help") return usage(0);
    if (a == "--preset") preset = value();
    else if (a == "--seed") seed = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--force") force = true;
    else if (a == "--outliers") {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0 || n > 64) { std::fprintf(stderr, "mblip-synth: --outliers must be 0..64\n"); return 2; }
      outliers.channels = static_cast<int>(n);
    }
    else if (a.rfind("--", 0) == 0) {
      weights_given |= a == "--weights";
      Status st = given.set_option(a.substr(2), value());
      if (!st.ok()) { std::fprintf(stderr, "mblip-synth: %s\n", st.message().c_str()); return 2; }
    } else if (out.empty()) out = a;
    else return usage(2);
  }
  if (out.empty()) return usage(2);
  const Recipe recipe = resolve_cli_recipe(given, weights_given);
  ModelConfig cfg;
  if (!synth::preset_config(preset, cfg)) { std::fprintf(stderr, "mblip-synth: unknown preset '%s'\n", preset.c_str()); return 2; }
  if (!force && std::fopen(out.c_str(), "rb")) {
    std::fprintf(stderr, "mblip-synth: %s exists (use --force to overwrite)\n", out.c_str());
    return 1;
  }
  if (outliers.channels > 0) cfg.name += "-outliers";
  const synth::OutlierPlan plan = synth::OutlierPlan::make(cfg, seed, outliers);
  Status st = cfg.validate();
  if (!st.ok()) { std::fprintf(stderr, "mblip-synth: %s\n", st.to_string().c_str()); return 1; }

  GgufWriter w;
  write_config(cfg, w);
  std::string spm = make_synthetic_spm_model(cfg.text.vocab_size, seed);
  w.set("tokenizer.sentencepiece.model", GgufValue::make_u8_array(std::vector<uint8_t>(spm.begin(), spm.end())));
  std::vector<ExpectedTensor> tensors = expected_tensors(cfg);
  std::vector<DType> types;
  for (const auto& t : tensors) {
    DType type = recipe.type_for(t);
    types.push_back(type);
    st = w.add_tensor(t.name, type, t.shape);
    if (!st.ok()) { std::fprintf(stderr, "mblip-synth: %s\n", st.to_string().c_str()); return 1; }
  }
  auto t0 = std::chrono::steady_clock::now();
  const bool tty = isatty(2) != 0;
  // Rows are generated and quantized a block at a time (at most kChunkBytes of output), so
  // memory stays bounded whatever the tensor size.
  constexpr size_t kChunkBytes = 16u << 20;
  std::vector<uint8_t> bytes;
  std::vector<float> row;
  st = w.write_chunked(out, [&](size_t idx, const GgufWriter::Sink& sink) -> Status {
    const ExpectedTensor& t = tensors[idx];
    const int64_t cols = t.shape.back();
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < t.shape.size(); ++i) rows *= t.shape[i];
    MBLIP_ASSIGN_OR_RETURN(size_t row_bytes, dtype_bytes(types[idx], cols));
    const int64_t step = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / row_bytes));
    synth::Rng rng{synth::hash_name(t.name, seed)};
    row.resize(static_cast<size_t>(cols));
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
      const int64_t n = std::min(step, rows - r0);
      bytes.resize(row_bytes * static_cast<size_t>(n));
      for (int64_t r = 0; r < n; ++r) {
        synth::fill_row(t, rng, row.data(), cols);
        plan.apply(t.name, r0 + r, row.data(), cols);
        quantize_row_weights(types[idx], row.data(), bytes.data() + row_bytes * static_cast<size_t>(r), cols);
      }
      MBLIP_RETURN_IF_ERROR(sink(bytes.data(), bytes.size()));
    }
    return Status::Ok();
  }, [&](size_t done, size_t total) {
    // A live counter on a terminal; only the final line when stderr is a file or pipe.
    if (!tty && done != total) return;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "%smblip-synth: tensor %zu/%zu  %.1f s", tty ? "\r" : "", done, total, s);
    if (done == total) std::fprintf(stderr, "\n");
  });
  if (!st.ok()) { std::fprintf(stderr, "mblip-synth: %s\n", st.to_string().c_str()); return 1; }
  std::printf("wrote %s (%s preset, seed %llu, %s)\n", out.c_str(), preset.c_str(),
              static_cast<unsigned long long>(seed), recipe.describe().c_str());
  return 0;
}

}  // namespace
}  // namespace mblip

int main(int argc, char** argv) { return mblip::run(argc, argv); }
