// Seed generator for fuzz/corpus: tiny GGUF (every metadata type, every tensor type; plus the
// metadata of a converted golden model when given), safetensors, torch zip + its data.pkl, a
// synthetic sentencepiece model, hand-made PNG/GIF/BMP files, prompts and id lists from the
// golden tokenizer cases. Usage: fuzz_make_seeds <corpus dir> <golden dir> [converted.gguf]
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "synth/spm_writer.h"
#include "synth_hf/torch_zip_writer.h"

using namespace mblip;

namespace {

using Bytes = std::string;

void put(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
  if (!f) std::fprintf(stderr, "cannot write %s\n", path.c_str());
}
Bytes get(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}
void be32(Bytes& b, uint32_t v) { for (int k = 3; k >= 0; --k) b.push_back(static_cast<char>((v >> (8 * k)) & 0xFF)); }
void le16(Bytes& b, uint32_t v) { b.push_back(static_cast<char>(v & 0xFF)); b.push_back(static_cast<char>(v >> 8)); }
void le32(Bytes& b, uint32_t v) { le16(b, v & 0xFFFF); le16(b, v >> 16); }

// PNG chunk with its CRC (over type + data).
void chunk(Bytes& png, const char* type, const Bytes& data) {
  be32(png, static_cast<uint32_t>(data.size()));
  Bytes td = std::string(type, 4) + data;
  png += td;
  be32(png, crc32_update(0, reinterpret_cast<const uint8_t*>(td.data()), td.size()));
}
// zlib stream of one stored deflate block.
Bytes zlib_stored(const Bytes& raw) {
  Bytes z = "\x78\x01";
  z.push_back(1);
  le16(z, static_cast<uint32_t>(raw.size()));
  le16(z, static_cast<uint32_t>(~raw.size() & 0xFFFF));
  z += raw;
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) { a = (a + c) % 65521; b = (b + a) % 65521; }
  be32(z, (b << 16) | a);
  return z;
}
// PNG of `rows` (each already prefixed with its filter byte).
Bytes png(uint32_t w, uint32_t h, int depth, int color, const Bytes& rows, const Bytes& plte = "", const Bytes& trns = "",
          const Bytes& exif = "") {
  Bytes p = "\x89PNG\r\n\x1a\n";
  Bytes ihdr;
  be32(ihdr, w);
  be32(ihdr, h);
  ihdr += {static_cast<char>(depth), static_cast<char>(color), 0, 0, 0};
  chunk(p, "IHDR", ihdr);
  if (!exif.empty()) chunk(p, "eXIf", exif);
  if (!plte.empty()) chunk(p, "PLTE", plte);
  if (!trns.empty()) chunk(p, "tRNS", trns);
  chunk(p, "IDAT", zlib_stored(rows));
  chunk(p, "IEND", "");
  return p;
}

void write_gguf(const std::string& path, const std::string& converted) {
  GgufWriter w;
  w.set("t.u8", GgufValue::make_u8(7));
  w.set("t.i8", GgufValue::make_i8(-7));
  w.set("t.u16", GgufValue::make_u16(700));
  w.set("t.i16", GgufValue::make_i16(-700));
  w.set("t.u32", GgufValue::make_u32(70000));
  w.set("t.i32", GgufValue::make_i32(-70000));
  w.set("t.u64", GgufValue::make_u64(1ull << 40));
  w.set("t.i64", GgufValue::make_i64(-(1ll << 40)));
  w.set("t.f32", GgufValue::make_f32(0.5f));
  w.set("t.f64", GgufValue::make_f64(-0.25));
  w.set("t.bool", GgufValue::make_bool(true));
  w.set("t.str", GgufValue::make_string("caption"));
  w.set("t.f32s", GgufValue::make_f32_array({0.48f, 0.45f, 0.40f}));
  w.set("t.i32s", GgufValue::make_i32_array({1, -2, 3}));
  w.set("t.u8s", GgufValue::make_u8_array({1, 2, 3, 4}));
  w.set("t.strs", GgufValue::make_string_array({"a", "bc", ""}));
  w.set("t.nested", GgufValue::make_array(GgufType::ARRAY, {GgufValue::make_i32_array({1}), GgufValue::make_i32_array({2, 3})}));
  (void)w.add_tensor("w.f32", DType::F32, {2, 4});
  (void)w.add_tensor("w.f16", DType::F16, {8});
  (void)w.add_tensor("w.q8", DType::Q8_0, {1, 32});
  (void)w.add_tensor("w.q4", DType::Q4_0, {2, 32});
  Status st = w.write(path, [&](size_t i, std::vector<uint8_t>& out) {
    out.assign(w.tensor_nbytes(i), 0);
    for (size_t k = 0; k < out.size(); ++k) out[k] = static_cast<uint8_t>(k * 37 + i);
    if (i >= 2) out[1] = 0x3C;  // a sane f16 scale exponent
    return Status::Ok();
  });
  if (!st.ok()) std::fprintf(stderr, "gguf seed: %s\n", st.to_string().c_str());
  if (converted.empty()) return;
  // The metadata of a converted golden model (config keys), without tokenizer bytes or tensors.
  auto f = GgufFile::open_path(converted);
  if (!f.ok()) { std::fprintf(stderr, "%s\n", f.status().to_string().c_str()); return; }
  GgufWriter c;
  for (const auto& kv : f.value()->metadata())
    if (kv.second.raw.size() < 4096 && kv.second.array.size() < 256 && kv.first != "general.alignment") c.set(kv.first, kv.second);
  (void)c.add_tensor("w.f32", DType::F32, {1, 4});
  st = c.write(path.substr(0, path.size() - 5) + "_config.gguf",
               [&](size_t i, std::vector<uint8_t>& out) { out.assign(c.tensor_nbytes(i), 0); return Status::Ok(); });
  if (!st.ok()) std::fprintf(stderr, "gguf config seed: %s\n", st.to_string().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <corpus dir> <golden dir> [converted.gguf]\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1], golden = argv[2];
  write_gguf(out + "/gguf/tiny.gguf", argc > 3 ? argv[3] : "");

  // safetensors: F32 [2,3], F16 [4], BF16 [2], metadata; header padded to 8 bytes.
  {
    Bytes hdr = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                R"("b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]},"c":{"dtype":"BF16","shape":[2],"data_offsets":[32,36]}})";
    while (hdr.size() % 8) hdr += ' ';
    Bytes st;
    le32(st, static_cast<uint32_t>(hdr.size()));
    le32(st, 0);
    st += hdr;
    for (int k = 0; k < 36; ++k) st.push_back(static_cast<char>(k * 13 + 60));
    put(out + "/safetensors/tiny.safetensors", st);
  }
  // torch zip: two tensors, one sharing the other's storage, as torch.save writes them.
  {
    std::vector<PickleTensor> pt = {{"a.weight", "0", {2, 3}}, {"b.bias", "1", {3}}, {"tied.weight", "0", {2, 3}}};
    const Bytes pkl = torch_state_dict_pickle(pt);
    put(out + "/pickle/state_dict.pkl", pkl);
    ZipWriter z;
    Status st = z.open(out + "/torch_bin/tiny.bin");
    if (st.ok()) st = z.add_entry("archive/data.pkl", pkl);
    if (st.ok()) st = z.add_entry("archive/byteorder", "little");
    if (st.ok()) st = z.add_entry("archive/data/0", Bytes(24, '\x01'));
    if (st.ok()) st = z.add_entry("archive/data/1", Bytes(12, '\x02'));
    if (st.ok()) st = z.add_entry("archive/version", "3\n");
    if (st.ok()) st = z.finish();
    if (!st.ok()) std::fprintf(stderr, "torch seed: %s\n", st.to_string().c_str());
  }
  put(out + "/spm_model/synthetic_300.model", make_synthetic_spm_model(300, 1));

  // Images: palette (2-bit, 3 entries, with tRNS), 16-bit gray, RGB with eXIf orientation 6,
  // a GIF with a transparency index, 24-bit and 8-bit BMPs.
  {
    Bytes rows;
    for (int y = 0; y < 3; ++y) { rows.push_back(0); rows.push_back(static_cast<char>(0x1B >> y)); }
    put(out + "/image/palette_2bit.png", png(4, 3, 2, 3, rows, Bytes("\x10\x20\x30\x40\x50\x60\x70\x80\x90", 9), Bytes("\x80", 1)));
    Bytes g16;
    for (int y = 0; y < 2; ++y) { g16.push_back(0); for (int x = 0; x < 3; ++x) { g16.push_back(static_cast<char>(x)); g16.push_back(static_cast<char>(y * 90)); } }
    put(out + "/image/gray16.png", png(3, 2, 16, 0, g16));
    Bytes rgb;
    for (int y = 0; y < 2; ++y) { rgb.push_back(0); for (int x = 0; x < 9; ++x) rgb.push_back(static_cast<char>(x * 25 + y)); }
    const Bytes exif("MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0", 26);
    put(out + "/image/rgb_exif6.png", png(3, 2, 8, 2, rgb, "", "", exif));
    const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 4, 0, 1, 0, 0x81, 0, 0, 10, 20, 30, 40, 50, 60,
                                 70, 80, 90, 0, 0, 0, 0x21, 0xF9, 4, 0x01, 0, 0, 1, 0, 0x2C, 0, 0, 0, 0, 3,
                                 0, 1, 0, 0, 2, 2, 0x4C, 0x54, 0, 0x3B};
    put(out + "/image/transparent.gif", Bytes(reinterpret_cast<const char*>(gif), sizeof gif));
    for (int bpp : {24, 8}) {
      const int w = 3, h = 2, stride = ((w * bpp + 31) / 32) * 4, pal = bpp == 8 ? 256 * 4 : 0;
      Bytes b = "BM";
      le32(b, 54 + pal + stride * h);
      le32(b, 0);
      le32(b, 54 + pal);
      le32(b, 40); le32(b, w); le32(b, h); le16(b, 1); le16(b, bpp); le32(b, 0); le32(b, stride * h);
      le32(b, 2835); le32(b, 2835); le32(b, bpp == 8 ? 256 : 0); le32(b, 0);
      for (int k = 0; k < pal; ++k) b.push_back(static_cast<char>(k));
      for (int k = 0; k < stride * h; ++k) b.push_back(static_cast<char>(k * 41));
      put(out + "/image/bmp" + std::to_string(bpp) + ".bmp", b);
    }
    for (const char* name : {"tiny_1x1.png", "tiny_3x7.png", "tiny_7x3.png", "horse_la.png"})
      put(out + "/image/" + name, get(golden + "/images/files/" + name));
  }

  // Prompts and id lists from the golden tokenizer cases (short ones).
  auto j = nlohmann::json::parse(get(golden + "/tokenizer/tokenizer_cases.json"), nullptr, false);
  if (j.is_discarded() || !j.contains("cases")) return 1;
  int n_text = 0, n_ids = 0;
  for (const auto& c : j["cases"]) {
    const std::string text = c.value("text", "");
    const int id = c.value("id", 0);
    if (text.size() <= 200 && n_text < 60) put(out + "/tokenize/case_" + std::to_string(id), text), ++n_text;
    if (c.contains("hf_input_ids") && c["hf_input_ids"].size() <= 64 && n_ids < 40) {
      Bytes b(1, '\0');  // mode 0: u16 values, id = value - 4
      for (const auto& v : c["hf_input_ids"]) le16(b, static_cast<uint32_t>(v.get<int>() + 4));
      put(out + "/detokenize/case_" + std::to_string(id), b);
      ++n_ids;
    }
  }
  return 0;
}
