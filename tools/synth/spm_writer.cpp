// Synthetic sentencepiece model: hand-serialized protobuf (sentencepiece_model.proto fields:
// ModelProto.pieces=1 {piece=1, score=2, type=3}, trainer_spec=2, normalizer_spec=3).
#include "synth/spm_writer.h"

#include <cstring>
#include <set>
#include <vector>

namespace mblip {
namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, int field, int wire) { put_varint(out, (static_cast<uint64_t>(field) << 3) | wire); }
void put_bytes(std::string& out, int field, const std::string& s) {
  put_key(out, field, 2);
  put_varint(out, s.size());
  out += s;
}
void put_int(std::string& out, int field, int64_t v) {
  put_key(out, field, 0);
  put_varint(out, static_cast<uint64_t>(v));
}
void put_float(std::string& out, int field, float f) {
  put_key(out, field, 5);
  char b[4];
  std::memcpy(b, &f, 4);
  out.append(b, 4);
}

enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6 };

std::string piece_msg(const std::string& piece, float score, int type) {
  std::string m;
  put_bytes(m, 1, piece);
  put_float(m, 2, score);
  if (type != kNormal) put_int(m, 3, type);
  return m;
}

}  // namespace

std::string make_synthetic_spm_model(int64_t vocab_size, uint64_t seed) {
  static const char* kOnsets[] = {"", "b", "k", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                                  "br", "st", "tr", "ch", "sh"};
  static const char* kVowels[] = {"a", "e", "i", "o", "u", "ai", "ou", "ea"};
  static const char* kCodas[] = {"", "n", "r", "s", "l", "m", "t", "k"};
  const char* kSpace = "\xE2\x96\x81";  // U+2581
  std::string model;
  auto add = [&](const std::string& p, float score, int type) { put_bytes(model, 1, piece_msg(p, score, type)); };
  add("<pad>", 0.f, kControl);
  add("</s>", 0.f, kControl);
  add("<unk>", 0.f, kUnknown);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    add(name, 0.f, kByte);
  }
  add(kSpace, -2.f, kNormal);
  // Deterministic syllable words; a seed-dependent rotation keeps different seeds different.
  std::set<std::string> seen;
  const size_t no = sizeof kOnsets / sizeof *kOnsets, nv = sizeof kVowels / sizeof *kVowels,
               nc = sizeof kCodas / sizeof *kCodas, nsyl = no * nv * nc;
  std::vector<std::string> syl;
  for (size_t i = 0; i < nsyl; ++i) {
    size_t j = (i + seed) % nsyl;
    std::string s = std::string(kOnsets[j % no]) + kVowels[(j / no) % nv] + kCodas[(j / (no * nv)) % nc];
    if (seen.insert(s).second) syl.push_back(s);
  }
  std::set<std::string> emitted;
  int64_t id = 260;
  float score = -3.f;
  // Words of 1, 2, 3 syllables, with and without the word-start marker, until the vocab is full.
  for (int len = 1; id < vocab_size && len <= 4; ++len) {
    const size_t n = syl.size();
    size_t total = 1;
    for (int k = 0; k < len; ++k) total *= n;
    for (size_t w = 0; w < total && id < vocab_size; ++w) {
      std::string word;
      size_t x = w;
      for (int k = 0; k < len; ++k, x /= n) word += syl[x % n];
      if (!emitted.insert(word).second) continue;  // different syllable splits can collide
      for (int marked = 1; marked >= 0 && id < vocab_size; --marked) {
        add(marked ? kSpace + word : word, score, kNormal);
        score -= 1e-5f;
        ++id;
      }
    }
  }
  std::string trainer;
  put_int(trainer, 3, 1);  // UNIGRAM
  put_int(trainer, 4, vocab_size);
  put_int(trainer, 35, 1);  // byte_fallback
  put_int(trainer, 40, 2);  // unk_id
  put_int(trainer, 41, -1); // bos_id
  put_int(trainer, 42, 1);  // eos_id
  put_int(trainer, 43, 0);  // pad_id
  put_bytes(model, 2, trainer);
  std::string norm;
  put_bytes(norm, 1, "identity");
  put_int(norm, 3, 1);  // add_dummy_prefix
  put_int(norm, 4, 1);  // remove_extra_whitespaces
  put_int(norm, 5, 1);  // escape_whitespaces
  put_bytes(model, 3, norm);
  return model;
}

}  // namespace mblip
