// UTF-8 validation, Python whitespace stripping and HF's clean_up_tokenization (see utf8.h).
#include "tokenizer/utf8.h"

#include <cstdint>

namespace mblip {
namespace {

// Decodes the code point that ends at s[end) (s valid UTF-8); sets *len to its byte length.
char32_t decode_before(const std::string& s, size_t end, size_t* len) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80 && end - b < 4) --b;
  *len = end - b;
  const unsigned char c0 = static_cast<unsigned char>(s[b]);
  char32_t cp;
  if (c0 < 0x80) return c0;
  if ((c0 & 0xE0) == 0xC0) cp = c0 & 0x1F;
  else if ((c0 & 0xF0) == 0xE0) cp = c0 & 0x0F;
  else cp = c0 & 0x07;
  for (size_t i = b + 1; i < end; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  return cp;
}

// Decodes the code point starting at s[pos] (s valid UTF-8); sets *len to its byte length.
char32_t decode_at(const std::string& s, size_t pos, size_t* len) {
  const unsigned char c0 = static_cast<unsigned char>(s[pos]);
  size_t n = c0 < 0x80 ? 1 : (c0 & 0xE0) == 0xC0 ? 2 : (c0 & 0xF0) == 0xE0 ? 3 : 4;
  if (pos + n > s.size()) n = s.size() - pos;
  *len = n;
  size_t dummy;
  return decode_before(s, pos + n, &dummy);
}

}  // namespace

size_t find_invalid_utf8(const std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c == 0xED) { len = 3; hi = 0x9F; }  // no surrogates
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return i;  // 0x80..0xC1 or 0xF5..0xFF cannot start a sequence
    if (i + 1 >= n || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (i + k >= n || (p[i + k] & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return std::string::npos;
}

bool is_python_whitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string python_lstrip(const std::string& s) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t len;
    if (!is_python_whitespace(decode_at(s, pos, &len))) break;
    pos += len;
  }
  return s.substr(pos);
}

std::string python_rstrip(const std::string& s) {
  size_t end = s.size();
  while (end > 0) {
    size_t len;
    if (!is_python_whitespace(decode_before(s, end, &len))) break;
    end -= len;
  }
  return s.substr(0, end);
}

namespace {

// Python str.replace(old, new): all non-overlapping occurrences, scanning left to right.
std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

}  // namespace

std::string clean_up_tokenization(const std::string& s) {
  static const char* const kRules[][2] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},   {" ,", ","},   {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  std::string out = s;
  for (const auto& rule : kRules) {
    if (out.find(rule[0]) != std::string::npos) out = replace_all(out, rule[0], rule[1]);
  }
  return out;
}

size_t cleanup_pattern_prefix_suffix(const std::string& s) {
  static const char* const kPrefixes[] = {" n'", " 'v", " 'r", " '", " n"};  // longest first
  for (const char* p : kPrefixes) {
    const std::string pre(p);
    if (s.size() >= pre.size() && s.compare(s.size() - pre.size(), pre.size(), pre) == 0) {
      return pre.size();
    }
  }
  return 0;
}

size_t incomplete_utf8_tail(const unsigned char* bytes, size_t n) {
  for (size_t k = 1; k <= 3 && k <= n; ++k) {
    const unsigned char b = bytes[n - k];
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t need = 0;
    if ((b & 0xE0) == 0xC0) need = 2;
    else if ((b & 0xF0) == 0xE0) need = 3;
    else if ((b & 0xF8) == 0xF0) need = 4;
    return need > k ? k : 0;
  }
  return 0;
}

}  // namespace mblip
