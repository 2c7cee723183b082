// Deterministic random weights for synthetic models, shared by mblip-synth (GGUF) and
// mblip-synth-hf (Hugging Face checkpoints): preset configs, a portable generator, and the
// per-tensor value scale that keeps activations near unit size. Header-only.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "model/config.h"
#include "model/tensor_names.h"

namespace mblip {
namespace synth {

// "full" = the real Gregor/mblip-mt0-xl shapes (ModelConfig defaults), "mini" = the small demo
// model, "tiny" = test-sized (64 wide like the golden tiny-mt5, 2048-piece vocabulary).
// Returns false for an unknown preset.
inline bool preset_config(const std::string& preset, ModelConfig& c) {
  if (preset != "full" && preset != "mini" && preset != "tiny") return false;
  c = ModelConfig{};
  c.name = "synthetic-" + preset;
  c.random_weights = true;
  if (preset == "mini") {
    c.vision.hidden_size = 128; c.vision.intermediate_size = 256; c.vision.num_layers = 2; c.vision.num_heads = 4;
    c.qformer.hidden_size = 128; c.qformer.intermediate_size = 256; c.qformer.num_layers = 2; c.qformer.num_heads = 4;
    c.text.d_model = 128; c.text.d_kv = 32; c.text.num_heads = 4; c.text.d_ff = 256;
    c.text.num_layers = 2; c.text.num_decoder_layers = 2; c.text.vocab_size = 8000;
  } else if (preset == "tiny") {
    c.vision.hidden_size = 64; c.vision.intermediate_size = 128; c.vision.num_layers = 2; c.vision.num_heads = 4;
    c.qformer.hidden_size = 64; c.qformer.intermediate_size = 128; c.qformer.num_layers = 2; c.qformer.num_heads = 4;
    c.text.d_model = 64; c.text.d_kv = 16; c.text.num_heads = 4; c.text.d_ff = 128;
    c.text.num_layers = 2; c.text.num_decoder_layers = 2; c.text.vocab_size = 2048;
  }
  c.qformer.encoder_hidden_size = c.vision.hidden_size;
  return true;
}

// splitmix64: a tiny, portable, seedable generator (identical output on every platform).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>((next() >> 40) * (1.0 / 16777216.0)) * 2.f - 1.f; }  // [-1, 1)
};

// FNV-1a of the name, mixed with the seed: each tensor has its own stream.
inline uint64_t hash_name(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

inline bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// Fills the next row of tensor `t` (GGUF name) from `rng` (seeded with hash_name(t.name,
// seed); rows in order) with values of a scale that keeps activations near unit size.
inline void fill_row(const ExpectedTensor& t, Rng& rng, float* row, int64_t n) {
  const std::string& name = t.name;
  const bool norm = name.find("ln") != std::string::npos && !ends_with(name, ".b");
  float scale, offset = 0.f;
  if (norm) { scale = 0.05f; offset = 1.f; }
  else if (ends_with(name, ".b")) scale = 0.02f;
  else if (name.find("rel_bias") != std::string::npos) scale = 0.5f;
  else if (name == "v.cls" || name == "v.pos" || name == "q.query" || name == "t.emb") scale = 1.f;
  else {
    int64_t fan_in = 1;
    for (size_t i = 1; i < t.shape.size(); ++i) fan_in *= t.shape[i];
    scale = std::sqrt(3.f / static_cast<float>(fan_in));  // uniform with std 1/sqrt(fan_in)
  }
  for (int64_t i = 0; i < n; ++i) row[i] = offset + scale * rng.uniform();
}

}  // namespace synth
}  // namespace mblip
