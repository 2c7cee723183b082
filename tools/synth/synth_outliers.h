// Planted activation outliers for synthetic models (--outliers): a few channels per site made
// 50-200x larger at the input of quantized linears, compensated exactly in the consuming
// weights, so the float model computes the same function as without outliers. Header-only.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/tensor_names.h"
#include "synth/synth_fill.h"

namespace mblip {
namespace synth {

struct OutlierOptions {
  int channels = 0;          // outlier channels per site (0: no outliers)
  float min_factor = 50.f;   // each channel's factor is uniform in [min_factor, max_factor]
  float max_factor = 200.f;
  // The consuming weights' columns are divided by factor^compensation: 1 = exact (the float
  // model computes the plain model's function, but those columns become factor times smaller
  // than their neighbours, which block-quantized weights cannot represent well); 0.5 = the
  // outlier channels contribute sqrt(factor) times more than a typical channel and the columns
  // keep a typical size, closer to trained models (weights easy, activations hard).
  float compensation = 1.f;
};

// Where outliers are planted (every site exact in float arithmetic up to rounding):
//  - norm sites (ViT ln1 / ln2, T5 sa.ln / ca.ln / ffn.ln): the norm's weight (and LayerNorm
//    bias) scaled by f at the channels, the consuming linears' input columns divided by f; the
//    activations entering qkv / fc1 / q,k,v / wi are f times larger there (real LLMs show
//    this: LLM.int8(), SmoothQuant);
//  - value sites (ViT and T5 attention v, Q-Former self / cross v): v rows (and bias) times f,
//    the output projection's columns divided by f (attention is linear in v): outliers at the
//    input of proj / o;
//  - FFN hidden sites (T5 gated FFN; relu FFN): wi_1 (or wi) rows times f, wo columns divided by
//    f: a few large channels of the gated hidden state feeding wo (why HF keeps T5's wo in f32
//    under fp16).
// Final norms (ViT post_layernorm, T5 final_layer_norm) are left alone so the stage outputs
// that `mblip compare` measures keep all channels at one scale.
class OutlierPlan {
 public:
  struct Site {
    std::string name;                                // "v.0.ln1", "t.enc.1.ffn.h", ...
    std::string input_of;                            // the linear(s) whose input carries the outliers
    std::vector<std::pair<int64_t, float>> channels; // (channel, factor)
  };

  OutlierPlan() = default;

  static OutlierPlan make(const ModelConfig& cfg, uint64_t seed, const OutlierOptions& o) {
    OutlierPlan p;
    if (o.channels <= 0) return p;
    std::set<std::string> names;
    for (const auto& t : expected_tensors(cfg)) names.insert(t.name);
    const int64_t D = cfg.vision.hidden_size, Dq = cfg.qformer.hidden_size, d = cfg.text.d_model;
    const int64_t inner = cfg.text.num_heads * cfg.text.d_kv;
    // The site's channels; scale: (tensor, row?, offset, power) with power +1 = times f, -1 = divided.
    struct Use {
      std::string tensor;
      bool rows;
      int64_t offset;
      int power;
    };
    auto site = [&](const std::string& name, const std::string& input_of, int64_t dim, std::vector<Use> uses) {
      for (const Use& u : uses)
        if (!names.count(u.tensor)) return;
      Site s{name, input_of, pick(name, seed, dim, o)};
      for (const Use& u : uses)
        for (const auto& cf : s.channels) {
          auto& v = u.rows ? p.scales_[u.tensor].rows : p.scales_[u.tensor].cols;
          v.push_back({u.offset + cf.first,
                       u.power > 0 ? cf.second : 1.f / std::pow(cf.second, o.compensation)});
        }
      p.sites_.push_back(std::move(s));
    };
    for (int64_t i = 0; i < cfg.vision.num_layers; ++i) {
      const std::string v = "v." + std::to_string(i);
      site(v + ".ln1", v + ".qkv", D, {{v + ".ln1.w", false, 0, 1}, {v + ".ln1.b", false, 0, 1}, {v + ".qkv.w", false, 0, -1}});
      site(v + ".ln2", v + ".fc1", D, {{v + ".ln2.w", false, 0, 1}, {v + ".ln2.b", false, 0, 1}, {v + ".fc1.w", false, 0, -1}});
      std::vector<Use> val = {{v + ".qkv.w", true, 2 * D, 1}, {v + ".proj.w", false, 0, -1}};
      if (cfg.vision.qkv_bias) val.push_back({v + ".qkv.b", false, 2 * D, 1});
      site(v + ".attn.v", v + ".proj", D, val);
    }
    for (int64_t i = 0; i < cfg.qformer.num_layers; ++i)
      for (const char* a : {"sa", "ca"}) {
        const std::string q = "q." + std::to_string(i) + "." + a;
        site(q + ".v", q + ".o", Dq, {{q + ".v.w", true, 0, 1}, {q + ".v.b", false, 0, 1}, {q + ".o.w", false, 0, -1}});
      }
    const bool relu = cfg.text.dense_act == "relu";
    for (const char* side : {"enc", "dec"}) {
      const int64_t layers = side[0] == 'e' ? cfg.text.num_layers : cfg.text.num_decoder_layers;
      for (int64_t i = 0; i < layers; ++i) {
        const std::string t = std::string("t.") + side + "." + std::to_string(i);
        for (const char* a : {"sa", "ca"}) {
          const std::string ta = t + "." + a;
          if (a[0] == 's')
            site(ta + ".ln", ta + ".q/k/v", d, {{ta + ".ln", false, 0, 1}, {ta + ".q", false, 0, -1},
                                               {ta + ".k", false, 0, -1}, {ta + ".v", false, 0, -1}});
          else
            site(ta + ".ln", ta + ".q", d, {{ta + ".ln", false, 0, 1}, {ta + ".q", false, 0, -1}});
          site(ta + ".v", ta + ".o", inner, {{ta + ".v", true, 0, 1}, {ta + ".o", false, 0, -1}});
        }
        if (cfg.text.gated) {
          site(t + ".ffn.ln", t + ".ffn.wi0/wi1", d,
               {{t + ".ffn.ln", false, 0, 1}, {t + ".ffn.wi0", false, 0, -1}, {t + ".ffn.wi1", false, 0, -1}});
          site(t + ".ffn.h", t + ".ffn.wo", cfg.text.d_ff, {{t + ".ffn.wi1", true, 0, 1}, {t + ".ffn.wo", false, 0, -1}});
        } else {
          site(t + ".ffn.ln", t + ".ffn.wi", d, {{t + ".ffn.ln", false, 0, 1}, {t + ".ffn.wi", false, 0, -1}});
          if (relu)  // relu(f z) = f relu(z): exact only for relu
            site(t + ".ffn.h", t + ".ffn.wo", cfg.text.d_ff, {{t + ".ffn.wi", true, 0, 1}, {t + ".ffn.wo", false, 0, -1}});
        }
      }
    }
    return p;
  }

  bool empty() const { return scales_.empty(); }
  const std::vector<Site>& sites() const { return sites_; }

  // Applies the plan to row `row` (row-major index over all but the last dimension; 0 for a
  // 1-D tensor, whose elements count as columns) of tensor `name`, n values.
  void apply(const std::string& name, int64_t row, float* values, int64_t n) const {
    auto it = scales_.find(name);
    if (it == scales_.end()) return;
    for (const auto& rf : it->second.rows)
      if (rf.first == row)
        for (int64_t i = 0; i < n; ++i) values[i] *= rf.second;
    for (const auto& cf : it->second.cols)
      if (cf.first < n) values[cf.first] *= cf.second;
  }

 private:
  struct Scales {
    std::vector<std::pair<int64_t, float>> rows, cols;
  };
  // `o.channels` distinct channels of [0, dim) and their factors, from the site's own stream.
  static std::vector<std::pair<int64_t, float>> pick(const std::string& site, uint64_t seed, int64_t dim,
                                                     const OutlierOptions& o) {
    Rng rng{hash_name("outliers:" + site, seed)};
    std::vector<std::pair<int64_t, float>> out;
    const int64_t k = std::min<int64_t>(o.channels, dim / 4);
    std::set<int64_t> used;
    while (static_cast<int64_t>(out.size()) < k) {
      const int64_t c = static_cast<int64_t>(rng.next() % static_cast<uint64_t>(dim));
      if (!used.insert(c).second) continue;
      const float u = 0.5f * (rng.uniform() + 1.f);  // [0, 1)
      out.push_back({c, o.min_factor + (o.max_factor - o.min_factor) * u});
    }
    return out;
  }
  std::map<std::string, Scales> scales_;
  std::vector<Site> sites_;
};

}  // namespace synth
}  // namespace mblip
