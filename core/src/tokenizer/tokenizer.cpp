// Tokenizer: SentencePiece (libsentencepiece natively, the same 0.1.97 sources in wasm) with
// the behaviour of transformers 4.36 T5Tokenizer (slow, legacy) on top.
#include "tokenizer/tokenizer.h"

#include <sentencepiece_processor.h>

#include <exception>
#include <string_view>

#include "tokenizer/utf8.h"

namespace mblip {
namespace {

constexpr const char* kSpaceSymbol = "\xE2\x96\x81";  // U+2581 "▁"
constexpr const char* kPadPiece = "<pad>";
constexpr const char* kEosPiece = "</s>";
constexpr const char* kUnkPiece = "<unk>";

template <typename SpStatus>
Status sp_error(const char* what, const SpStatus& st) {
  return tokenizer_error(std::string(what) + ": " + st.ToString());
}

}  // namespace

Tokenizer::Tokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
Tokenizer::~Tokenizer() = default;

// Mirrors T5Tokenizer.__init__ (sp_model.LoadFromSerializedProto) and its special tokens.
Result<std::unique_ptr<Tokenizer>> Tokenizer::from_bytes(const std::string& model_bytes) {
  if (model_bytes.empty()) return tokenizer_error("tokenizer model is empty (0 bytes)");
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  try {
    const auto st = tok->sp_->LoadFromSerializedProto(model_bytes);
    if (!st.ok()) {
      return tokenizer_error("cannot load the SentencePiece model (" +
                             std::to_string(model_bytes.size()) + " bytes): " + st.ToString());
    }
  } catch (const std::exception& e) {
    return tokenizer_error(std::string("cannot load the SentencePiece model: ") + e.what());
  }
  const int n = tok->sp_->GetPieceSize();
  if (n <= 0) return tokenizer_error("SentencePiece model has no pieces");
  // T5Tokenizer's pad/eos/unk are the pieces "<pad>", "</s>", "<unk>" (ids looked up by name).
  struct Want { const char* piece; int32_t* id; };
  for (const Want& w : {Want{kPadPiece, &tok->pad_id_}, Want{kEosPiece, &tok->eos_id_},
                        Want{kUnkPiece, &tok->unk_id_}}) {
    const int id = tok->sp_->PieceToId(w.piece);
    if (id < 0 || id >= n || tok->sp_->IdToPiece(id) != w.piece) {
      return tokenizer_error(std::string("SentencePiece model has no '") + w.piece + "' piece");
    }
    *w.id = id;
  }
  return tok;
}

int32_t Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

std::string Tokenizer::id_to_piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return std::string();
  return sp_->IdToPiece(id);
}

int Tokenizer::byte_value(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !sp_->IsByte(id)) return -1;
  const std::string& p = sp_->IdToPiece(id);  // "<0xNN>"
  if (p.size() != 6) return -1;
  return static_cast<int>(std::stoul(p.substr(3, 2), nullptr, 16));
}

Status Tokenizer::check_text(const std::string& text) const {
  const size_t bad = find_invalid_utf8(text);
  if (bad == std::string::npos) return Status::Ok();
  static const char* kHex = "0123456789ABCDEF";
  const unsigned char b = static_cast<unsigned char>(text[bad]);
  return invalid_argument("text is not valid UTF-8: bad byte 0x" + std::string(1, kHex[b >> 4]) +
                          std::string(1, kHex[b & 15]) + " at byte offset " + std::to_string(bad));
}

Status Tokenizer::check_ids(const std::vector<int32_t>& ids) const {
  const int32_t n = vocab_size();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= n) {
      return invalid_argument("token id " + std::to_string(ids[i]) + " at position " +
                              std::to_string(i) + " is out of range [0, " + std::to_string(n) + ")");
    }
  }
  return Status::Ok();
}

// SentencePieceProcessor.encode(text) (out_type=int).
Result<std::vector<int32_t>> Tokenizer::encode_ids(const std::string& text) const {
  MBLIP_RETURN_IF_ERROR(check_text(text));
  std::vector<int> ids;
  const auto st = sp_->Encode(text, &ids);
  if (!st.ok()) return sp_error("SentencePiece encode failed", st);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

// SentencePieceProcessor.encode(text, out_type=str).
Result<std::vector<std::string>> Tokenizer::encode_pieces(const std::string& text) const {
  MBLIP_RETURN_IF_ERROR(check_text(text));
  std::vector<std::string> pieces;
  const auto st = sp_->Encode(text, &pieces);
  if (!st.ok()) return sp_error("SentencePiece encode failed", st);
  return pieces;
}

// PreTrainedTokenizer.tokenize (tokens_trie.split on the added tokens <pad>, </s>, <unk>, all
// with lstrip/rstrip/single_word False, then T5Tokenizer._tokenize per text piece) +
// convert_tokens_to_ids + T5Tokenizer.build_inputs_with_special_tokens (_add_eos_if_not_present).
Result<std::vector<int32_t>> Tokenizer::encode_prompt(const std::string& text) const {
  MBLIP_RETURN_IF_ERROR(check_text(text));
  struct Special { std::string_view text; int32_t id; };
  const Special specials[] = {{kPadPiece, pad_id_}, {kEosPiece, eos_id_}, {kUnkPiece, unk_id_}};
  std::vector<int32_t> out;
  auto flush = [&](size_t begin, size_t end) -> Status {
    if (end <= begin) return Status::Ok();
    std::vector<int> ids;
    const auto st = sp_->Encode(absl::string_view(text.data() + begin, end - begin), &ids);
    if (!st.ok()) return sp_error("SentencePiece encode failed", st);
    out.insert(out.end(), ids.begin(), ids.end());
    return Status::Ok();
  };
  size_t seg_begin = 0, pos = 0;
  while (pos < text.size()) {
    const Special* hit = nullptr;
    if (text[pos] == '<') {
      for (const Special& s : specials) {
        if (text.compare(pos, s.text.size(), s.text) == 0) { hit = &s; break; }
      }
    }
    if (hit == nullptr) { ++pos; continue; }
    MBLIP_RETURN_IF_ERROR(flush(seg_begin, pos));
    out.push_back(hit->id);
    pos += hit->text.size();
    seg_begin = pos;
  }
  MBLIP_RETURN_IF_ERROR(flush(seg_begin, text.size()));
  if (out.empty() || out.back() != eos_id_) out.push_back(eos_id_);
  return out;
}

Result<size_t> Tokenizer::count_prompt_tokens(const std::string& text) const {
  MBLIP_ASSIGN_OR_RETURN(auto ids, encode_prompt(text));
  return ids.size();
}

Result<std::string> Tokenizer::decode_pieces(const std::vector<std::string>& pieces) const {
  std::string out;
  if (pieces.empty()) return out;
  const auto st = sp_->Decode(pieces, &out);
  if (!st.ok()) return sp_error("SentencePiece decode failed", st);
  return out;
}

// SentencePieceProcessor.decode(ids).
Result<std::string> Tokenizer::decode_sp(const std::vector<int32_t>& ids) const {
  MBLIP_RETURN_IF_ERROR(check_ids(ids));
  std::string out;
  const auto st = sp_->Decode(std::vector<int>(ids.begin(), ids.end()), &out);
  if (!st.ok()) return sp_error("SentencePiece decode failed", st);
  return out;
}

// PreTrainedTokenizer.convert_ids_to_tokens + T5Tokenizer.convert_tokens_to_string without
// its final strip(): the first token loses its leading "▁"s, runs of ordinary pieces go through
// sp decode, special tokens are written literally with one space before a run of them.
Result<std::string> Tokenizer::tokens_to_string(const std::vector<int32_t>& ids,
                                                bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special && is_special(id)) continue;
    tokens.push_back(sp_->IdToPiece(id));
  }
  std::string out;
  if (tokens.empty()) return out;
  const std::string space(kSpaceSymbol);
  while (tokens[0].compare(0, space.size(), space) == 0) tokens[0].erase(0, space.size());
  std::vector<std::string> run;
  bool prev_is_special = false;
  for (std::string& t : tokens) {
    if (t == kPadPiece || t == kEosPiece || t == kUnkPiece) {
      if (!prev_is_special) out += ' ';
      MBLIP_ASSIGN_OR_RETURN(std::string text, decode_pieces(run));
      out += text;
      out += t;
      run.clear();
      prev_is_special = true;
    } else {
      run.push_back(std::move(t));
      prev_is_special = false;
    }
  }
  MBLIP_ASSIGN_OR_RETURN(std::string text, decode_pieces(run));
  out += text;
  return out;
}

// PreTrainedTokenizer._decode with clean_up_tokenization_spaces=True (mBLIP's setting).
Result<std::string> Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  MBLIP_RETURN_IF_ERROR(check_ids(ids));
  MBLIP_ASSIGN_OR_RETURN(std::string text, tokens_to_string(ids, skip_special_tokens));
  return clean_up_tokenization(python_strip(text));
}

}  // namespace mblip
