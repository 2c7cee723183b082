// The fuzz entry functions (see targets.h): GGUF reader + config validation, safetensors and
// torch .bin (zip + pickle) readers of the converter, image decode + EXIF + preprocess,
// sentencepiece model loading, prompt encoding and id-list decoding (with their invariants).
#include "targets.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "convert/safetensors.h"
#include "convert/source_tensor.h"
#include "convert/torch_bin.h"
#include "image/image.h"
#include "io/gguf.h"
#include "io/quant.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace mblip_fuzz {
namespace {

using mblip::Status;

Status write_scratch(const Context& ctx, const uint8_t* d, size_t n) {
  std::ofstream f(ctx.scratch_path, std::ios::binary | std::ios::trunc);
  if (!f) return mblip::io_error("fuzz: cannot write scratch file '" + ctx.scratch_path + "'");
  f.write(reinterpret_cast<const char*>(d), static_cast<std::streamsize>(n));
  f.close();
  if (!f) return mblip::io_error("fuzz: cannot write scratch file '" + ctx.scratch_path + "'");
  return Status::Ok();
}

Status violated(const std::string& what) { return mblip::internal_error("fuzz invariant violated: " + what); }

// Reads a few rows of every listed tensor (all of them when small) as the converter does.
Status read_some_rows(const std::vector<mblip::SourceTensor>& list) {
  mblip::TensorReader reader;
  std::vector<float> buf;
  for (const auto& t : list) {
    if (t.dtype == mblip::SrcDType::Other || t.cols() <= 0 || t.cols() > (1 << 16)) continue;
    const int64_t rows = std::min<int64_t>(t.rows(), 4);
    buf.resize(static_cast<size_t>(rows * t.cols()));
    Status st = reader.read_rows(t, 0, rows, buf.data());
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

// --- GGUF reader: header, metadata, tensor table, typed getters, config, dequantization.
Status gguf(const Context&, const uint8_t* d, size_t n) {
  auto file = mblip::GgufFile::open(mblip::borrow_buffer(d, n));
  if (!file.ok()) return file.status();
  const mblip::GgufFile& f = *file.value();
  for (const auto& kv : f.metadata()) {  // every getter on every key: typed errors or values
    (void)f.get_int(kv.first);
    (void)f.get_float(kv.first);
    (void)f.get_string(kv.first);
    (void)f.get_float_array(kv.first);
    (void)f.get_bytes(kv.first);
    (void)f.get_int_array(kv.first);
    (void)f.get_string_array(kv.first);
    for (size_t k = 0; k < std::min<size_t>(kv.second.array_size(), 16); ++k) (void)kv.second.at(k);
  }
  std::vector<float> row;
  for (const auto& t : f.tensors()) {
    const auto& tr = mblip::dtype_traits(t.view.type);
    const int64_t cols = t.view.shape.back();
    const int64_t n_el = std::min<int64_t>(cols, 4096) / tr.block_elems * tr.block_elems;
    if (n_el <= 0) continue;
    row.resize(static_cast<size_t>(n_el));
    mblip::dequantize_row(t.view.type, t.view.data, row.data(), n_el);  // first elements of the first row
  }
  auto cfg = mblip::read_config(f);
  if (!cfg.ok()) return cfg.status();
  return Status::Ok();
}

// --- safetensors index + row reads (through a file, as the converter reads them).
Status safetensors(const Context& ctx, const uint8_t* d, size_t n) {
  MBLIP_RETURN_IF_ERROR(write_scratch(ctx, d, n));
  auto list = mblip::read_safetensors_index(ctx.scratch_path);
  if (!list.ok()) return list.status();
  return read_some_rows(list.value());
}

// --- torch.save zip: directory, data.pkl through the pickle VM, storages, row reads.
Status torch_bin(const Context& ctx, const uint8_t* d, size_t n) {
  MBLIP_RETURN_IF_ERROR(write_scratch(ctx, d, n));
  auto list = mblip::read_torch_bin_index(ctx.scratch_path);
  if (!list.ok()) return list.status();
  return read_some_rows(list.value());
}

// --- the pickle VM alone (data.pkl bytes).
Status pickle(const Context&, const uint8_t* d, size_t n) {
  auto r = mblip::parse_state_dict_pickle(std::string(reinterpret_cast<const char*>(d), n));
  return r.ok() ? Status::Ok() : r.status();
}

// --- image: probe, EXIF parsers on raw bytes, decode (1 MP cap), BlipImageProcessor preprocess.
Status image(const Context&, const uint8_t* d, size_t n) {
  using namespace mblip::image_detail;
  (void)exif_orientation_from_tiff(d, n);
  (void)read_exif_orientation(d, n, sniff_format(d, n));
  (void)mblip::probe_image(d, n);
  mblip::ImageDecodeOptions opts;
  opts.max_pixels = 1 << 20;
  auto img = mblip::decode_image(d, n, opts);
  if (!img.ok()) return img.status();
  const mblip::PreprocessConfig cfg;
  auto pv = mblip::preprocess_image(img.value(), cfg);
  if (!pv.ok()) return pv.status();
  if (pv.value().size() != static_cast<size_t>(3 * cfg.height * cfg.width)) return violated("pixel_values size");
  return Status::Ok();
}

// --- sentencepiece ModelProto bytes -> Tokenizer, then a short encode/decode round.
Status spm_model(const Context&, const uint8_t* d, size_t n) {
  auto tok = mblip::Tokenizer::from_bytes(std::string(reinterpret_cast<const char*>(d), n));
  if (!tok.ok()) return tok.status();
  const mblip::Tokenizer& t = *tok.value();
  auto ids = t.encode_prompt("Caption in English: a cat \xC3\xBC \xE6\x97\xA5\xE6\x9C\xAC </s> <unk>x");
  if (!ids.ok()) return ids.status();
  auto text = t.decode(ids.value(), true);
  if (!text.ok()) return text.status();
  std::vector<int32_t> first;
  for (int32_t k = 0; k < std::min<int32_t>(t.vocab_size(), 64); ++k) first.push_back(k);
  auto text2 = t.decode(first, false);
  if (!text2.ok()) return text2.status();
  (void)t.id_to_piece(-1);
  (void)t.id_to_piece(t.vocab_size());
  return Status::Ok();
}

// --- arbitrary bytes as a prompt: encode_prompt (ends with eos), count, plain encode + decode.
Status tokenize(const Context& ctx, const uint8_t* d, size_t n) {
  if (!ctx.tokenizer) return mblip::invalid_argument("fuzz: tokenize needs a tokenizer");
  const mblip::Tokenizer& t = *ctx.tokenizer;
  const std::string text(reinterpret_cast<const char*>(d), n);
  auto ids = t.encode_prompt(text);
  if (!ids.ok()) return ids.status();
  if (ids.value().empty() || ids.value().back() != t.eos_id()) return violated("encode_prompt does not end with eos");
  auto count = t.count_prompt_tokens(text);
  if (!count.ok() || count.value() != ids.value().size()) return violated("count_prompt_tokens != encode_prompt size");
  auto plain = t.encode_ids(text);
  if (!plain.ok()) return plain.status();
  auto pieces = t.encode_pieces(text);
  if (!pieces.ok()) return pieces.status();
  if (pieces.value().size() != plain.value().size()) return violated("encode_pieces and encode_ids differ in length");
  auto back = t.decode_sp(plain.value());
  if (!back.ok()) return violated("decode_sp of encode_ids failed: " + back.status().message());
  auto back2 = t.decode(ids.value(), true);
  if (!back2.ok()) return violated("decode of encode_prompt failed: " + back2.status().message());
  return Status::Ok();
}

// --- arbitrary id lists: decode variants, and StreamDecoder pieces concatenating to decode().
Status detokenize(const Context& ctx, const uint8_t* d, size_t n) {
  if (!ctx.tokenizer) return mblip::invalid_argument("fuzz: detokenize needs a tokenizer");
  const mblip::Tokenizer& t = *ctx.tokenizer;
  if (n == 0) return Status::Ok();
  std::vector<int32_t> ids;
  if (d[0] & 1) {  // raw little-endian int32 (mostly out of range)
    for (size_t k = 1; k + 4 <= n; k += 4) {
      uint32_t u;
      std::memcpy(&u, d + k, 4);
      ids.push_back(static_cast<int32_t>(u));
    }
  } else {  // 16-bit values mapped into [-4, vocab + 4)
    const int32_t span = t.vocab_size() + 8;
    for (size_t k = 1; k + 2 <= n; k += 2)
      ids.push_back(static_cast<int32_t>((d[k] | (d[k + 1] << 8)) % span) - 4);
  }
  (void)t.decode(ids, false);
  (void)t.decode_sp(ids);
  auto full = t.decode(ids, true);
  mblip::StreamDecoder sd(t);
  std::string streamed;
  std::vector<int32_t> kept;
  for (int32_t id : ids) {
    auto piece = sd.push(id);
    if (!piece.ok()) continue;  // out-of-range ids are rejected and not kept
    kept.push_back(id);
    streamed += piece.value();
  }
  auto rest = sd.finish();
  if (!rest.ok()) return rest.status();
  streamed += rest.value();
  auto expect = t.decode(kept, true);
  if (!expect.ok()) return violated("decode of in-range ids failed: " + expect.status().message());
  if (streamed != expect.value()) return violated("StreamDecoder output differs from decode()");
  return full.ok() ? Status::Ok() : full.status();
}

}  // namespace

const std::vector<Target>& all_targets() {
  static const std::vector<Target> kTargets = {
      {"gguf", gguf, false},           {"safetensors", safetensors, false}, {"torch_bin", torch_bin, false},
      {"pickle", pickle, false},       {"image", image, false},             {"spm_model", spm_model, false},
      {"tokenize", tokenize, true},    {"detokenize", detokenize, true},
  };
  return kTargets;
}

const Target* find_target(const std::string& name) {
  for (const auto& t : all_targets())
    if (name == t.name) return &t;
  return nullptr;
}

std::unique_ptr<mblip::Tokenizer> load_tokenizer(const std::string& spm_path, std::string* error) {
  std::ifstream f(spm_path, std::ios::binary);
  if (!f) {
    *error = "cannot open '" + spm_path + "'";
    return nullptr;
  }
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto tok = mblip::Tokenizer::from_bytes(bytes);
  if (!tok.ok()) {
    *error = tok.status().to_string();
    return nullptr;
  }
  return std::move(tok).value();
}

bool is_clean(const mblip::Status& st) {
  return st.ok() || (st.code() != mblip::StatusCode::kInternal && !st.message().empty());
}

}  // namespace mblip_fuzz
