// UTF-8 and text helpers for the tokenizer: input validation, Python's str.strip() whitespace
// set, and transformers' clean_up_tokenization (the string rules HF applies after decoding).
#pragma once
#include <cstddef>
#include <string>

namespace mblip {

// Byte offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629:
// no overlongs, no surrogates, nothing above U+10FFFF), or std::string::npos if all is valid.
size_t find_invalid_utf8(const std::string& text);

// Python's str.isspace() for one code point (Unicode White_Space minus U+180E etc., plus the
// information separators U+001C..U+001F), which is what str.strip() removes.
bool is_python_whitespace(char32_t cp);

// Python's str.lstrip() / rstrip() / strip() with no argument, on valid UTF-8.
std::string python_lstrip(const std::string& s);
std::string python_rstrip(const std::string& s);
inline std::string python_strip(const std::string& s) { return python_rstrip(python_lstrip(s)); }

// transformers PreTrainedTokenizerBase.clean_up_tokenization (4.36): the sequential
// str.replace calls " ." -> ".", " ?" -> "?", " !" -> "!", " ," -> ",", " ' " -> "'",
// " n't" -> "n't", " 'm" -> "'m", " 's" -> "'s", " 've" -> "'ve", " 're" -> "'re".
std::string clean_up_tokenization(const std::string& s);

// Length of the longest suffix of `s` that is a proper prefix (2..3 bytes) of one of the
// clean-up patterns above (" '", " n", " n'", " 'v", " 'r"); 0 if none. A streaming decoder
// must hold such a suffix back because the next token may complete the pattern.
size_t cleanup_pattern_prefix_suffix(const std::string& s);

// Number of trailing bytes of `bytes` that form an incomplete (but possibly completable)
// UTF-8 sequence: a lead byte followed by fewer continuation bytes than it announces.
size_t incomplete_utf8_tail(const unsigned char* bytes, size_t n);

}  // namespace mblip
