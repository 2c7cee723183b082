// GGUF metadata values: type names and sizes, constructors, array element access, equality.
#include <cstring>

#include "io/gguf.h"

namespace mblip {

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::UINT8: return "UINT8";
    case GgufType::INT8: return "INT8";
    case GgufType::UINT16: return "UINT16";
    case GgufType::INT16: return "INT16";
    case GgufType::UINT32: return "UINT32";
    case GgufType::INT32: return "INT32";
    case GgufType::FLOAT32: return "FLOAT32";
    case GgufType::BOOL: return "BOOL";
    case GgufType::STRING: return "STRING";
    case GgufType::ARRAY: return "ARRAY";
    case GgufType::UINT64: return "UINT64";
    case GgufType::INT64: return "INT64";
    case GgufType::FLOAT64: return "FLOAT64";
  }
  return "?";
}

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    case GgufType::STRING: case GgufType::ARRAY: return 0;
  }
  return 0;
}

namespace {

bool is_unsigned(GgufType t) {
  return t == GgufType::UINT8 || t == GgufType::UINT16 || t == GgufType::UINT32 || t == GgufType::UINT64;
}

uint64_t load_le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(p[k]) << (8 * k);
  return v;
}
void store_le(uint8_t* p, uint64_t v, size_t n) {
  for (size_t k = 0; k < n; ++k) p[k] = static_cast<uint8_t>(v >> (8 * k));
}

// Decodes one scalar of type t from little-endian bytes.
GgufValue decode_scalar(GgufType t, const uint8_t* p) {
  GgufValue v;
  v.type = t;
  const uint64_t bits = load_le(p, gguf_scalar_size(t));
  switch (t) {
    case GgufType::UINT8: case GgufType::UINT16: case GgufType::UINT32: case GgufType::UINT64: v.u = bits; break;
    case GgufType::INT8: v.i = static_cast<int8_t>(bits); break;
    case GgufType::INT16: v.i = static_cast<int16_t>(bits); break;
    case GgufType::INT32: v.i = static_cast<int32_t>(bits); break;
    case GgufType::INT64: v.i = static_cast<int64_t>(bits); break;
    case GgufType::BOOL: v.i = bits != 0; break;
    case GgufType::FLOAT32: {
      auto b = static_cast<uint32_t>(bits);
      float f;
      std::memcpy(&f, &b, 4);
      v.f = f;
      break;
    }
    case GgufType::FLOAT64: std::memcpy(&v.f, &bits, 8); break;
    default: break;
  }
  return v;
}

// Encodes a scalar value as element type t (converting between numeric kinds).
void encode_scalar(GgufType t, const GgufValue& v, uint8_t* p) {
  const bool src_float = v.type == GgufType::FLOAT32 || v.type == GgufType::FLOAT64;
  const double as_f = src_float ? v.f : is_unsigned(v.type) ? static_cast<double>(v.u) : static_cast<double>(v.i);
  const int64_t as_i = src_float ? static_cast<int64_t>(v.f) : is_unsigned(v.type) ? static_cast<int64_t>(v.u) : v.i;
  switch (t) {
    case GgufType::FLOAT32: {
      float f = static_cast<float>(as_f);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      store_le(p, b, 4);
      break;
    }
    case GgufType::FLOAT64: {
      uint64_t b;
      std::memcpy(&b, &as_f, 8);
      store_le(p, b, 8);
      break;
    }
    case GgufType::BOOL: p[0] = as_i != 0; break;
    default: store_le(p, static_cast<uint64_t>(as_i), gguf_scalar_size(t)); break;
  }
}

}  // namespace

size_t GgufValue::array_size() const {
  if (type != GgufType::ARRAY) return 0;
  const size_t es = gguf_scalar_size(array_type);
  return es ? raw.size() / es : array.size();
}

GgufValue GgufValue::at(size_t k) const {
  if (type != GgufType::ARRAY || k >= array_size()) return GgufValue();
  const size_t es = gguf_scalar_size(array_type);
  if (es) return decode_scalar(array_type, raw.data() + k * es);
  return array[k];
}

bool GgufValue::operator==(const GgufValue& o) const {
  if (type != o.type) return false;
  switch (type) {
    case GgufType::STRING: return s == o.s;
    case GgufType::ARRAY: return array_type == o.array_type && raw == o.raw && array == o.array;
    case GgufType::FLOAT32: case GgufType::FLOAT64:
      return f == o.f || (f != f && o.f != o.f);  // NaN equals NaN here (bit-level round trips)
    default: return is_unsigned(type) ? u == o.u : i == o.i;
  }
}

GgufValue GgufValue::make_u8(uint8_t v) { GgufValue x; x.type = GgufType::UINT8; x.u = v; return x; }
GgufValue GgufValue::make_i8(int8_t v) { GgufValue x; x.type = GgufType::INT8; x.i = v; return x; }
GgufValue GgufValue::make_u16(uint16_t v) { GgufValue x; x.type = GgufType::UINT16; x.u = v; return x; }
GgufValue GgufValue::make_i16(int16_t v) { GgufValue x; x.type = GgufType::INT16; x.i = v; return x; }
GgufValue GgufValue::make_u32(uint32_t v) { GgufValue x; x.type = GgufType::UINT32; x.u = v; return x; }
GgufValue GgufValue::make_i32(int32_t v) { GgufValue x; x.type = GgufType::INT32; x.i = v; return x; }
GgufValue GgufValue::make_u64(uint64_t v) { GgufValue x; x.type = GgufType::UINT64; x.u = v; return x; }
GgufValue GgufValue::make_i64(int64_t v) { GgufValue x; x.type = GgufType::INT64; x.i = v; return x; }
GgufValue GgufValue::make_f32(float v) { GgufValue x; x.type = GgufType::FLOAT32; x.f = v; return x; }
GgufValue GgufValue::make_f64(double v) { GgufValue x; x.type = GgufType::FLOAT64; x.f = v; return x; }
GgufValue GgufValue::make_bool(bool v) { GgufValue x; x.type = GgufType::BOOL; x.i = v ? 1 : 0; return x; }
GgufValue GgufValue::make_string(std::string v) {
  GgufValue x;
  x.type = GgufType::STRING;
  x.s = std::move(v);
  return x;
}

GgufValue GgufValue::make_array(GgufType elem_type, const std::vector<GgufValue>& elems) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.array_type = elem_type;
  const size_t es = gguf_scalar_size(elem_type);
  if (es) {
    x.raw.resize(elems.size() * es);
    size_t n = 0;
    for (const auto& e : elems) {
      if (e.type == GgufType::STRING || e.type == GgufType::ARRAY) continue;
      encode_scalar(elem_type, e, x.raw.data() + n * es);
      ++n;
    }
    x.raw.resize(n * es);
  } else {
    for (const auto& e : elems)
      if (e.type == elem_type) x.array.push_back(e);
  }
  return x;
}

GgufValue GgufValue::make_f32_array(const std::vector<float>& v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.array_type = GgufType::FLOAT32;
  x.raw.resize(v.size() * 4);
  for (size_t k = 0; k < v.size(); ++k) encode_scalar(GgufType::FLOAT32, make_f32(v[k]), x.raw.data() + 4 * k);
  return x;
}

GgufValue GgufValue::make_i32_array(const std::vector<int32_t>& v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.array_type = GgufType::INT32;
  x.raw.resize(v.size() * 4);
  for (size_t k = 0; k < v.size(); ++k) store_le(x.raw.data() + 4 * k, static_cast<uint32_t>(v[k]), 4);
  return x;
}

GgufValue GgufValue::make_u8_array(const std::vector<uint8_t>& v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.array_type = GgufType::UINT8;
  x.raw = v;
  return x;
}

GgufValue GgufValue::make_string_array(const std::vector<std::string>& v) {
  GgufValue x;
  x.type = GgufType::ARRAY;
  x.array_type = GgufType::STRING;
  for (const auto& s : v) x.array.push_back(make_string(s));
  return x;
}

}  // namespace mblip
