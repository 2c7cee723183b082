// StreamDecoder: incremental T5Tokenizer.decode(skip_special_tokens=True) for streaming output.
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace mblip {

Result<std::string> StreamDecoder::push(int32_t id) {
  if (id < 0 || id >= tok_.vocab_size()) {
    return invalid_argument("token id " + std::to_string(id) + " is out of range [0, " +
                            std::to_string(tok_.vocab_size()) + ")");
  }
  ids_.push_back(id);
  // Special ids are dropped (skip_special_tokens), so byte pieces on either side of them join.
  std::vector<int32_t> head;
  head.reserve(ids_.size());
  for (int32_t i : ids_) {
    if (!tok_.is_special(i)) head.push_back(i);
  }
  // Trailing byte pieces that start a UTF-8 character not yet complete stay out of the text.
  unsigned char tail[3];
  size_t n_tail = 0;
  for (size_t i = head.size(); i > 0 && n_tail < 3; --i) {
    const int b = tok_.byte_value(head[i - 1]);
    if (b < 0) break;
    ++n_tail;
    tail[3 - n_tail] = static_cast<unsigned char>(b);
  }
  head.resize(head.size() - incomplete_utf8_tail(tail + 3 - n_tail, n_tail));
  MBLIP_ASSIGN_OR_RETURN(std::string text, tok_.tokens_to_string(head, /*skip_special=*/true));
  // decode() strips both ends: the start is final once it holds a non-space character; the end
  // is cut before trailing whitespace and before a tail a later token may turn into a clean-up
  // pattern. Patterns then never straddle the cut, so clean_up(cut) is a prefix of the result.
  text = python_lstrip(text);
  while (true) {
    text = python_rstrip(text);
    const size_t k = cleanup_pattern_prefix_suffix(text);
    if (k == 0) break;
    text.resize(text.size() - k);
  }
  std::string stable = clean_up_tokenization(text);
  if (stable.size() <= emitted_.size()) return std::string();
  if (stable.compare(0, emitted_.size(), emitted_) != 0) {
    return internal_error("StreamDecoder: decoded text no longer extends the emitted text");
  }
  std::string out = stable.substr(emitted_.size());
  emitted_ = std::move(stable);
  return out;
}

Result<std::string> StreamDecoder::finish() {
  MBLIP_ASSIGN_OR_RETURN(std::string full, tok_.decode(ids_, /*skip_special_tokens=*/true));
  ids_.clear();
  std::string emitted = std::move(emitted_);
  emitted_.clear();
  if (full.compare(0, emitted.size(), emitted) != 0) {
    return internal_error("StreamDecoder: final text does not extend the emitted text");
  }
  return full.substr(emitted.size());
}

}  // namespace mblip
