// fp16 conversion against known IEEE binary16 encodings, and ggml Q8_0 / Q4_0 block layouts:
// exact results on crafted blocks, error bounds derived from the format on random data; the
// conversion recipe (per-tensor rules, full-size bytes) and the --dequantized round trip.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "convert/convert.h"
#include "convert/recipe.h"
#include "io/gguf.h"
#include "io/quant.h"
#include "support/golden.h"
#include "support/models.h"
#include "synth/synth_fill.h"

using namespace mblip;

namespace {
float bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t d_of(const std::vector<uint8_t>& blk, size_t b, size_t stride) {
  return uint16_t(blk[b * stride] | (blk[b * stride + 1] << 8));
}
}  // namespace

TEST_CASE("quant: fp32 -> fp16 known IEEE encodings and ties-to-even", "[quant]") {
  CHECK(fp32_to_fp16(1.0f) == 0x3C00);
  CHECK(fp32_to_fp16(-2.0f) == 0xC000);
  CHECK(fp32_to_fp16(0.0f) == 0x0000);
  CHECK(fp32_to_fp16(-0.0f) == 0x8000);
  CHECK(fp32_to_fp16(0.5f) == 0x3800);
  CHECK(fp32_to_fp16(65504.0f) == 0x7BFF);              // largest finite
  CHECK(fp32_to_fp16(65519.996f) == 0x7BFF);            // below the halfway point
  CHECK(fp32_to_fp16(65520.0f) == 0x7C00);              // tie between 65504 and 65536 -> even = inf
  CHECK(fp32_to_fp16(1e6f) == 0x7C00);
  CHECK(fp32_to_fp16(-1e6f) == 0xFC00);
  CHECK(fp32_to_fp16(INFINITY) == 0x7C00);
  CHECK(fp32_to_fp16(-INFINITY) == 0xFC00);
  const uint16_t nan = fp32_to_fp16(NAN);
  CHECK((nan & 0x7C00) == 0x7C00);
  CHECK((nan & 0x03FF) != 0);
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -14)) == 0x0400);  // smallest normal
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(fp32_to_fp16(std::ldexp(1023.0f, -24)) == 0x03FF);  // largest subnormal
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);  // tie -> even (0)
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25) * 1.0001f) == 0x0001);
  CHECK(fp32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 units -> 2 (even)
  CHECK(fp32_to_fp16(std::ldexp(5.0f, -25)) == 0x0002);  // 2.5 units -> 2 (even)
  CHECK(fp32_to_fp16(std::ldexp(2047.0f, -25)) == 0x0400);  // 1023.5 units rounds up into the normals
  CHECK(fp32_to_fp16(-std::ldexp(1.0f, -24)) == 0x8001);
  CHECK(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // tie -> even
  CHECK(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie -> even (up)
  CHECK(fp32_to_fp16(bits(0x3F801001)) == 0x3C01);                  // just above a tie
  CHECK(fp32_to_fp16(0.1f) == 0x2E66);
  CHECK(fp32_to_fp16(1.0f / 3.0f) == 0x3555);
  CHECK(fp32_to_fp16(bits(0x33000001)) == 0x0001);  // just above 2^-25
}

TEST_CASE("quant: fp16 -> fp32 is exact and every half value round-trips", "[quant]") {
  CHECK(fp16_to_fp32(0x3C00) == 1.0f);
  CHECK(fp16_to_fp32(0x7BFF) == 65504.0f);
  CHECK(fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(fp16_to_fp32(0x03FF) == std::ldexp(1023.0f, -24));
  CHECK(fp16_to_fp32(0x0400) == std::ldexp(1.0f, -14));
  CHECK(std::signbit(fp16_to_fp32(0x8000)));
  CHECK(std::isinf(fp16_to_fp32(0x7C00)));
  CHECK(std::isinf(fp16_to_fp32(0xFC00)));
  CHECK(fp16_to_fp32(0xFC00) < 0);
  CHECK(std::isnan(fp16_to_fp32(0x7E00)));
  CHECK(std::isnan(fp16_to_fp32(0x7C01)));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(uint16_t(h));
    if (std::isnan(f)) {
      CHECK(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
      continue;
    }
    if (fp32_to_fp16(f) != h) FAIL("half 0x" << std::hex << h << " does not round-trip");
    // Value check independent of the bit code: sign * mantissa * 2^exp.
    const int e = (h >> 10) & 31, m = h & 1023;
    if (e != 31) {
      const float expect = (h & 0x8000 ? -1.0f : 1.0f) * (e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(1024 + m), e - 25));
      if (f != expect) FAIL("half 0x" << std::hex << h << " decodes wrong");
    }
  }
  // Rounding of arbitrary floats is to the nearest half value (ties checked above).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-70000.0f, 70000.0f);
  for (int k = 0; k < 20000; ++k) {
    const float x = k % 2 ? u(rng) : u(rng) * 1e-6f;
    const uint16_t h = fp32_to_fp16(x);
    const float y = fp16_to_fp32(h);
    if (std::isinf(y)) {
      CHECK(std::fabs(x) >= 65520.0f);
      continue;
    }
    const float up = fp16_to_fp32(uint16_t(h + 1)), down = fp16_to_fp32(uint16_t(h == 0x8000 ? 0 : h - 1));
    if (!(std::fabs(x - y) <= std::fabs(x - up) && std::fabs(x - y) <= std::fabs(x - down)))
      FAIL("not nearest for " << x);
  }
}

TEST_CASE("quant: Q8_0 crafted blocks decode exactly, layout as ggml", "[quant]") {
  const float d = 0.0625f;  // power of two: amax/127 = d exactly, x * (1/d) exact
  std::vector<float> x(64);
  for (int j = 0; j < 64; ++j) x[size_t(j)] = float((j * 37) % 255 - 127) * d;
  x[5] = 127 * d;  // amax of block 0
  x[40] = -127 * d;  // amax of block 1 (negative)
  std::vector<uint8_t> q(68);
  quantize_row(DType::Q8_0, x.data(), q.data(), 64);
  CHECK(d_of(q, 0, 34) == 0x2C00);  // f16(0.0625)
  CHECK(d_of(q, 1, 34) == 0x2C00);
  CHECK(int8_t(q[2 + 5]) == 127);
  CHECK(int8_t(q[34 + 2 + 8]) == -127);
  for (int j = 0; j < 32; ++j) CHECK(int8_t(q[size_t(2 + j)]) == int(std::lround(x[size_t(j)] / d)));
  std::vector<float> y(64);
  dequantize_row(DType::Q8_0, q.data(), y.data(), 64);
  CHECK(y == x);

  // All-zero block: d = 0, all codes 0, decodes to zeros.
  std::vector<float> z(32, 0.0f), zy(32, 1.0f);
  std::vector<uint8_t> zq(34, 0xff);
  quantize_row(DType::Q8_0, z.data(), zq.data(), 32);
  CHECK(std::all_of(zq.begin(), zq.end(), [](uint8_t b) { return b == 0; }));
  dequantize_row(DType::Q8_0, zq.data(), zy.data(), 32);
  CHECK(zy == z);

  // Rounding is half away from zero (roundf): 0.5 d -> 1, -0.5 d -> -1, 1.5 d -> 2.
  std::vector<float> h(32, 0.0f);
  h[0] = 127 * d; h[1] = 0.5f * d; h[2] = -0.5f * d; h[3] = 1.5f * d; h[4] = 2.5f * d;
  quantize_row(DType::Q8_0, h.data(), zq.data(), 32);
  CHECK(int8_t(zq[3]) == 1);
  CHECK(int8_t(zq[4]) == -1);
  CHECK(int8_t(zq[5]) == 2);
  CHECK(int8_t(zq[6]) == 3);
}

TEST_CASE("quant: Q4_0 crafted blocks decode exactly, nibble layout as ggml", "[quant]") {
  // max = +2.0 (largest magnitude, positive) -> d = 2 / -8 = -0.25; x = (q - 8) * d.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[size_t(j)] = float((j * 5) % 16 - 8) * -0.25f;
  x[0] = 2.0f;  // q = 0
  std::vector<uint8_t> q(18);
  quantize_row(DType::Q4_0, x.data(), q.data(), 32);
  CHECK(d_of(q, 0, 18) == 0xB400);  // f16(-0.25)
  for (int j = 0; j < 16; ++j) {
    const int lo = (j * 5) % 16, hi = ((j + 16) * 5) % 16;
    CHECK(q[size_t(2 + j)] == uint8_t((j == 0 ? 0 : lo) | (hi << 4)));
  }
  std::vector<float> y(32);
  dequantize_row(DType::Q4_0, q.data(), y.data(), 32);
  CHECK(y == x);

  // The clamp: with max = -8 (d = 1), the value +8 would be code 16 and is stored as 15 (-> 7).
  std::vector<float> c(32, 0.0f);
  c[0] = -8.0f; c[1] = 8.0f; c[2] = 7.4f; c[3] = -0.6f;
  quantize_row(DType::Q4_0, c.data(), q.data(), 32);
  CHECK(d_of(q, 0, 18) == 0x3C00);
  dequantize_row(DType::Q4_0, q.data(), y.data(), 32);
  CHECK(y[0] == -8.0f);
  CHECK(y[1] == 7.0f);
  CHECK(y[2] == 7.0f);   // trunc(7.4 + 8.5) = 15
  CHECK(y[3] == -1.0f);  // trunc(-0.6 + 8.5) = 7 -> -1
  CHECK(y[4] == 0.0f);
}

TEST_CASE("quant: Q8_0 / Q4_0 / F16 random data within the format's error bounds", "[quant]") {
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 32 * 512;
  for (float scale : {1.0f, 1e-3f, 1e-6f, 300.0f}) {
    INFO("scale " << scale);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = nd(rng) * scale;
    x[7] = 0.0f;
    std::vector<uint8_t> q8(static_cast<size_t>(n / 32 * 34)), q4(static_cast<size_t>(n / 32 * 18)), h(static_cast<size_t>(n * 2));
    const size_t nn = static_cast<size_t>(n);
    std::vector<float> y8(nn), y4(nn), yh(nn);
    quantize_row(DType::Q8_0, x.data(), q8.data(), n);
    quantize_row(DType::Q4_0, x.data(), q4.data(), n);
    quantize_row(DType::F16, x.data(), h.data(), n);
    dequantize_row(DType::Q8_0, q8.data(), y8.data(), n);
    dequantize_row(DType::Q4_0, q4.data(), y4.data(), n);
    dequantize_row(DType::F16, h.data(), yh.data(), n);
    double worst8 = 0, worst4 = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0, mx = 0;
      for (int j = 0; j < 32; ++j) {
        const float v = x[size_t(b * 32 + j)];
        if (std::fabs(v) > amax) { amax = std::fabs(v); mx = v; }
      }
      const float b8 = q8_0_error_bound(amax), b4 = q4_0_error_bound(amax), b4u = q4_0_unclamped_error_bound(amax);
      for (int j = 0; j < 32; ++j) {
        const size_t k = size_t(b * 32 + j);
        const float e8 = std::fabs(x[k] - y8[k]), e4 = std::fabs(x[k] - y4[k]);
        worst8 = std::max(worst8, double(e8 / b8));
        worst4 = std::max(worst4, double(e4 / b4));
        if (e8 > b8) FAIL("Q8_0 error " << e8 << " > bound " << b8);
        if (e4 > b4) FAIL("Q4_0 error " << e4 << " > bound " << b4);
        if (x[k] / (mx / -8.0f) <= 7.5f && e4 > b4u) FAIL("Q4_0 unclamped error " << e4 << " > " << b4u);
      }
    }
    CHECK(worst8 > 0.3);  // the bounds are not vacuous
    CHECK(worst4 > 0.3);
    for (int64_t k = 0; k < n; ++k) {
      const float ax = std::fabs(x[size_t(k)]);
      // f16: half an ulp relative (normals) or 2^-25 absolute (subnormals).
      const float bound = std::max(ax * 0x1p-11f, 0x1p-25f);
      if (std::fabs(x[size_t(k)] - yh[size_t(k)]) > bound) FAIL("f16 error too large at " << k);
    }
  }
  // Deterministic: same input, same bytes.
  std::vector<float> x(64);
  for (auto& v : x) v = nd(rng);
  std::vector<uint8_t> a(36), b(36);
  quantize_row(DType::Q4_0, x.data(), a.data(), 64);
  quantize_row(DType::Q4_0, x.data(), b.data(), 64);
  CHECK(a == b);
}

TEST_CASE("quant: non-finite inputs do not crash", "[quant]") {
  std::vector<float> x(32, 1.0f);
  x[3] = NAN;
  x[4] = INFINITY;
  std::vector<uint8_t> q8(34), q4(18);
  std::vector<float> y(32);
  quantize_row(DType::Q8_0, x.data(), q8.data(), 32);
  quantize_row(DType::Q4_0, x.data(), q4.data(), 32);
  dequantize_row(DType::Q8_0, q8.data(), y.data(), 32);
  dequantize_row(DType::Q4_0, q4.data(), y.data(), 32);
  SUCCEED();
}

// --- The conversion recipe (tools/convert/recipe.h) and the --dequantized measurement aid ---

namespace {
ExpectedTensor tensor(const std::string& name, std::vector<int64_t> shape, Component c, bool matrix) {
  ExpectedTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.component = c;
  t.is_matrix_weight = matrix;
  return t;
}
}  // namespace

TEST_CASE("quant: recipe globs, per-tensor rules and the CLI merge with the default", "[quant]") {
  CHECK(glob_match("t.*.ffn.wo", "t.enc.3.ffn.wo"));
  CHECK(glob_match("t.*.ffn.wo", "t.dec.23.ffn.wo"));
  CHECK_FALSE(glob_match("t.*.ffn.wo", "t.dec.23.ffn.wi0"));
  CHECK_FALSE(glob_match("t.*.ffn.wo", "t.enc.3.ffn.wox"));
  CHECK(glob_match("v.*.fc2.w", "v.38.fc2.w"));
  CHECK_FALSE(glob_match("v.*.fc2.w", "v.38.fc2.b"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("t.emb", "t.emb"));
  CHECK_FALSE(glob_match("t.emb", "t.emb2"));
  CHECK(glob_match("a*b*c", "aXbYbZc"));
  CHECK_FALSE(glob_match("a*b*c", "aXbYbZ"));

  const ExpectedTensor wo = tensor("t.dec.1.ffn.wo", {64, 128}, Component::kTextDecoder, true);
  const ExpectedTensor odd = tensor("t.dec.1.ffn.wi0", {100, 48}, Component::kTextDecoder, true);
  const ExpectedTensor norm = tensor("t.dec.1.ffn.ln", {64}, Component::kTextDecoder, false);
  Recipe r;
  REQUIRE(r.set_option("weights", "q4_0").ok());
  REQUIRE(r.set_option("text", "f16").ok());
  CHECK(r.type_for(wo) == DType::F16);  // component override
  REQUIRE(r.set_option("tensor", "t.*.ffn.wo=q8_0").ok());
  CHECK(r.type_for(wo) == DType::Q8_0);  // a rule beats the component
  REQUIRE(r.set_option("tensor", "t.dec.1.*=q4_0").ok());
  CHECK(r.type_for(wo) == DType::Q4_0);  // the last matching rule wins
  CHECK(r.type_for(norm) == DType::F32);  // never quantized
  REQUIRE(r.set_option("tensor", "t.dec.1.ffn.wi0=q8_0").ok());
  CHECK(r.choice_for(odd).type == DType::F16);  // 48 is not a multiple of 32
  CHECK_FALSE(r.choice_for(odd).note.empty());
  CHECK(r.describe() == "weights=q4_0 text_encoder=f16 text_decoder=f16 t.*.ffn.wo=q8_0 t.dec.1.*=q4_0 "
                        "t.dec.1.ffn.wi0=q8_0");
  CHECK(r.set_option("tensor", "t.*.ffn.wo").code() == StatusCode::kInvalidArgument);
  CHECK(r.set_option("tensor", "=q8_0").code() == StatusCode::kInvalidArgument);
  CHECK(r.set_option("tensor", "t.*=q5_0").code() == StatusCode::kInvalidArgument);

  CHECK(rule_may_match("t.*.sa.v", Component::kTextDecoder));
  CHECK(rule_may_match("t.*.sa.v", Component::kLmHead));  // conservative
  CHECK_FALSE(rule_may_match("t.dec.*.sa.v", Component::kTextEncoder));
  CHECK_FALSE(rule_may_match("v.*.fc2.w", Component::kQFormer));
  CHECK(rule_may_match("*", Component::kProjection));

  // Without --weights the CLIs start from the default; explicit component options replace the
  // default's rules on that component; with --weights only what was given counts.
  const Recipe d = default_recipe();
  Recipe given;
  REQUIRE(given.set_option("vision", "q8_0").ok());
  REQUIRE(given.set_option("tensor", "t.head=q8_0").ok());
  const Recipe merged = resolve_cli_recipe(given, false);
  CHECK(merged.weights == d.weights);
  const ExpectedTensor fc2 = tensor("v.3.fc2.w", {64, 128}, Component::kVision, true);
  const ExpectedTensor head = tensor("t.head", {8000, 64}, Component::kLmHead, true);
  CHECK(merged.type_for(fc2) == DType::Q8_0);
  CHECK(merged.type_for(head) == DType::Q8_0);
  for (const auto& rule : d.tensors)
    if (!rule_may_match(rule.first, Component::kVision)) {
      bool kept = false;
      for (const auto& m : merged.tensors) kept |= m == rule;
      CHECK(kept);
    }
  const Recipe exact = resolve_cli_recipe(given, true);
  CHECK(exact.weights == DType::F32);
  CHECK(exact.tensors.size() == 1);
}

TEST_CASE("quant: full-size bytes of the recipes (mblip-mt0-xl shapes), default within the 3.6 GB budget", "[quant]") {
  ModelConfig cfg;
  REQUIRE(synth::preset_config("full", cfg));
  // Independent count from the mt0-xl shapes: matrix weights at 18 (q4_0) / 34 (q8_0) bytes per
  // 32 values, everything else f32 (norms, biases, embeddings tables, patch conv).
  Recipe q4;
  q4.weights = DType::Q4_0;
  Recipe q8 = q4;
  q8.weights = DType::Q8_0;
  const uint64_t b4 = q4.tensor_bytes(cfg), b8 = q8.tensor_bytes(cfg);
  uint64_t matrix = 0, total_elems = 0;
  for (const auto& t : expected_tensors(cfg)) {
    int64_t n = 1;
    for (int64_t x : t.shape) n *= x;
    total_elems += static_cast<uint64_t>(n);
    if (t.is_matrix_weight) matrix += static_cast<uint64_t>(n);
  }
  CHECK(b8 - b4 == matrix / 32 * 16);  // q8_0 minus q4_0: 16 bytes per block
  CHECK(b4 == matrix / 32 * 18 + (total_elems - matrix) * 4);
  // mt0-xl: 4.8 B parameters, token embedding and head 250112 x 2048 each.
  CHECK(total_elems > 4'700'000'000ull);
  CHECK(total_elems < 5'000'000'000ull);
  Recipe emb8 = q4;
  REQUIRE(emb8.set_option("embeddings", "q8_0").ok());
  CHECK(emb8.tensor_bytes(cfg) - b4 == 250112ull * 2048 / 32 * 16);
  const uint64_t def = default_recipe().tensor_bytes(cfg);
  CHECK(def < 3'600'000'000ull - 16'000'000ull);  // room for metadata and the tokenizer
  CHECK(def > b4);
  // wasm32 load peak (api/memory_check.h): packed weights (~ the tensor bytes) + the raw bytes of
  // the largest tensor held while it is built + ~400 MB working memory must stay under 4 GiB.
  CHECK(q4.largest_tensor_bytes(cfg) == 250112ull * 2048 / 32 * 18);
  CHECK(emb8.largest_tensor_bytes(cfg) == 250112ull * 2048 / 32 * 34);
  CHECK(def + default_recipe().largest_tensor_bytes(cfg) + 400'000'000ull < (4ull << 30));
}

TEST_CASE("quant: --dequantized stores Q8_0 / Q4_0 grid values as f32 within the format bounds", "[quant]") {
  MBLIP_REQUIRE_GOLDEN();
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    const std::string out = mblip_test::tmp_dir() + "/quant-deq-" + dtype_name(type) + "-" +
                            std::to_string(::getpid()) + ".gguf";
    ConvertOptions o;
    o.input_dir = mblip_test::golden_dir() + "/models/tiny-mt5";
    o.output_path = out;
    o.weights = type;
    o.store_dequantized = true;
    o.force = true;
    Status st = convert_checkpoint(o);
    INFO(st.to_string());
    REQUIRE(st.ok());
    auto fq = GgufFile::open_path(out);
    auto ff = GgufFile::open_path(mblip_test::golden_gguf("tiny-mt5", "f32"));
    REQUIRE(fq.ok());
    REQUIRE(ff.ok());
    CHECK(fq.value()->get_string("mblip.convert.recipe").value() ==
          std::string("weights=") + dtype_name(type) + " dequantized");
    int checked = 0;
    for (const auto& t : ff.value()->tensors()) {
      const GgufTensorInfo* q = fq.value()->tensor(t.view.name);
      REQUIRE(q);
      REQUIRE(q->view.type == DType::F32);
      const float* a = reinterpret_cast<const float*>(t.view.data);
      const float* b = reinterpret_cast<const float*>(q->view.data);
      const size_t n = static_cast<size_t>(t.view.numel());
      const bool matrix = t.view.shape.size() == 2 && t.view.name != "v.pos" && t.view.name != "q.query" &&
                          t.view.name.find("rel_bias") == std::string::npos;
      if (!matrix) {
        CHECK(std::memcmp(a, b, n * 4) == 0);  // non-matrix tensors are untouched
        continue;
      }
      bool changed = false;
      for (size_t i0 = 0; i0 < n; i0 += 32) {
        float amax = 0;
        for (size_t i = i0; i < i0 + 32; ++i) amax = std::max(amax, std::fabs(a[i]));
        const float bound = type == DType::Q8_0 ? q8_0_error_bound(amax) : q4_0_error_bound(amax);
        // Every value of a block is an integer multiple of one common step (the block scale).
        float step = 0;
        for (size_t i = i0; i < i0 + 32; ++i) {
          if (std::fabs(b[i] - a[i]) > bound) FAIL(t.view.name << "[" << i << "] " << b[i] << " vs " << a[i]);
          step = std::max(step, std::fabs(b[i]));
          changed |= b[i] != a[i];
        }
        step /= type == DType::Q8_0 ? 127.f : 8.f;
        if (step > 0)
          for (size_t i = i0; i < i0 + 32; ++i) {
            const float k = b[i] / step;
            if (std::fabs(k - std::round(k)) > 2e-3f) FAIL(t.view.name << "[" << i << "] not on the grid: " << k);
          }
      }
      CHECK(changed);
      ++checked;
    }
    CHECK(checked > 40);
    std::remove(out.c_str());
  }
}
