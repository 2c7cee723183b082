// Tokenizer: the model's SentencePiece model (bytes from the model file) behind a small
// interface that reproduces transformers 4.36 T5Tokenizer (slow, legacy, extra_ids=0), plus
// StreamDecoder for incremental detokenization while generating.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mblip/status.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace mblip {

class Tokenizer {
 public:
  // Loads a serialized SentencePiece ModelProto (the bytes of spiece.model). Corrupt or empty
  // bytes, or a model without the T5 pieces <pad>, </s>, <unk>, give a kTokenizer error.
  static Result<std::unique_ptr<Tokenizer>> from_bytes(const std::string& model_bytes);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // T5Tokenizer.__call__(text)["input_ids"] (add_special_tokens=True): literal "</s>", "<pad>",
  // "<unk>" in the text become their ids, the text between them is encoded piece by piece (each
  // with its own dummy-prefix "▁"), and eos is appended unless the ids already end with eos.
  // Empty / whitespace-only text gives [eos]. Invalid UTF-8 -> kInvalidArgument naming the byte.
  Result<std::vector<int32_t>> encode_prompt(const std::string& text) const;
  // encode_prompt(text).size(), for the caller's max-prompt-length check.
  Result<size_t> count_prompt_tokens(const std::string& text) const;
  // Plain SentencePieceProcessor.encode(text): no special-token splitting, no eos.
  Result<std::vector<int32_t>> encode_ids(const std::string& text) const;
  Result<std::vector<std::string>> encode_pieces(const std::string& text) const;

  // T5Tokenizer.decode(ids, skip_special_tokens, clean_up_tokenization_spaces=True). An id
  // outside [0, vocab_size()) gives kInvalidArgument naming the id and its position.
  Result<std::string> decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;
  // Plain SentencePieceProcessor.decode(ids). Out-of-range ids -> kInvalidArgument.
  Result<std::string> decode_sp(const std::vector<int32_t>& ids) const;

  // Number of pieces in the SentencePiece model (the LM head may be padded beyond this).
  int32_t vocab_size() const;
  // The piece string of `id`; "" when id is out of range.
  std::string id_to_piece(int32_t id) const;
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  bool is_special(int32_t id) const { return id == eos_id_ || id == pad_id_ || id == unk_id_; }

 private:
  Tokenizer();
  Status check_ids(const std::vector<int32_t>& ids) const;
  Status check_text(const std::string& text) const;
  Result<std::string> decode_pieces(const std::vector<std::string>& pieces) const;
  // T5Tokenizer.convert_ids_to_tokens + convert_tokens_to_string (before clean-up); ids valid.
  Result<std::string> tokens_to_string(const std::vector<int32_t>& ids, bool skip_special) const;
  // The byte of a byte-fallback piece <0xNN>, or -1 for any other id.
  int byte_value(int32_t id) const;
  friend class StreamDecoder;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  int32_t eos_id_ = 1, pad_id_ = 0, unk_id_ = 2;
};

// Incremental detokenization of generated ids with skip_special_tokens=True: push() returns the
// text that became final with this token, finish() the rest, and the concatenation of all
// returned strings equals tokenizer.decode(all ids). Held back until the next token: trailing
// byte pieces of an incomplete UTF-8 character, trailing whitespace (decode strips it), and a
// tail that a later token could turn into a clean-up pattern (" n't", " 's", ...).
// Each push re-decodes the ids so far (O(n) per token; generation lengths are small).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tok_(tokenizer) {}
  // kInvalidArgument for an out-of-range id (the id is not kept).
  Result<std::string> push(int32_t id);
  // Remaining text; the decoder is then reset for a new sequence.
  Result<std::string> finish();
  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  const Tokenizer& tok_;
  std::vector<int32_t> ids_;
  std::string emitted_;
};

}  // namespace mblip
