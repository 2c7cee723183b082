// mblip bench's ops table: the timed linears take the model's weight types (set_linear_types).
#include <catch2/catch.hpp>

#include "mblip/bench.h"

using namespace mblip;

TEST_CASE("bench ops table uses the model's type for each timed linear", "[bench]") {
  auto entry = [](const char* name, const char* type) {
    TensorEntry e;
    e.name = name;
    e.type = type;
    return e;
  };
  bench::OpShapes s;
  // The default recipe's mix: ViT attention q8_0, ViT MLP q4_0, encoder q4_0 with an f16 wo; a
  // later layer's type must not override the first one's (all layers share a recipe rule).
  const std::vector<TensorEntry> gated = {entry("v.0.qkv.w", "q8_0"),       entry("v.0.proj.w", "q8_0"),
                                          entry("v.0.fc1.w", "q4_0"),       entry("v.0.fc2.w", "q4_0"),
                                          entry("t.enc.0.sa.q", "q4_0"),    entry("t.enc.0.ffn.wi0", "q4_0"),
                                          entry("t.enc.0.ffn.wo", "f16"),   entry("v.1.fc1.w", "f32")};
  bench::set_linear_types(s, gated);
  CHECK(s.vit_qkv == "q8_0");
  CHECK(s.vit_proj == "q8_0");
  CHECK(s.vit_fc1 == "q4_0");
  CHECK(s.vit_fc2 == "q4_0");
  CHECK(s.t5_attn == "q4_0");
  CHECK(s.t5_wi == "q4_0");
  CHECK(s.t5_wo == "f16");
  bench::OpShapes plain;  // a non-gated T5 (wi) and a model without a ViT layer 0: defaults kept
  bench::set_linear_types(plain, {entry("t.enc.0.ffn.wi", "f16")});
  CHECK(plain.t5_wi == "f16");
  CHECK(plain.vit_fc1 == bench::OpShapes().vit_fc1);
}
