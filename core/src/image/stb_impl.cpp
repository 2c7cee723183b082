// The one stb_image implementation TU (PNG, BMP; JPEG only when libjpeg is absent) and the
// conversions that make its output equal to Pillow 9.4's Image.open(...).convert("RGB").
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "image/image.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_JPEG
#define STBI_ASSERT(x) ((void)0)  // never abort on hostile input
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace mblip {
namespace image_detail {

namespace {

uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? std::string(r) : std::string("unknown error");
}

// stb_image reads zeros past the end of a BMP instead of failing: check the pixel array fits.
Status check_bmp_complete(const uint8_t* data, size_t size) {
  if (size < 26) return image_decode_error("BMP truncated: header incomplete");
  const uint32_t offset = le32(data + 10);
  const uint32_t dib = le32(data + 14);
  int64_t width = 0, height = 0, bpp = 0, compression = 0;
  if (dib == 12) {
    width = le16(data + 18);
    height = le16(data + 20);
    bpp = le16(data + 24);
  } else {
    if (size < 34) return image_decode_error("BMP truncated: header incomplete");
    width = static_cast<int32_t>(le32(data + 18));
    height = static_cast<int32_t>(le32(data + 22));
    bpp = le16(data + 28);
    compression = le32(data + 30);
  }
  if (height < 0) height = -height;
  if (compression != 0 && compression != 3 && compression != 6) return Status::Ok();  // stb rejects RLE etc.
  if (width <= 0 || bpp <= 0 || bpp > 32) return Status::Ok();  // let stb report it
  const int64_t stride = ((width * bpp + 31) / 32) * 4;
  const int64_t need = static_cast<int64_t>(offset) + stride * height;
  if (need > static_cast<int64_t>(size)) {
    return image_decode_error("BMP truncated: pixel data needs " + std::to_string(need) + " bytes, file has " +
                              std::to_string(size));
  }
  return Status::Ok();
}

uint32_t be32(const uint8_t* p) { return (static_cast<uint32_t>(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

uint32_t png_crc(const uint8_t* p, size_t n) {  // CRC-32 of PNG chunks (ISO 3309)
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

// Returns a copy of a PNG rewritten so that stb_image decodes it safely and as Pillow does, or
// an empty vector when nothing needs changing:
// - stb_image keeps the PLTE of a palette PNG in an uninitialised stack array: a pixel index past
//   the last PLTE entry would read stack bytes (non-deterministic output, leaks memory). PLTE
//   chunks are padded to 256 entries with Pillow's defaults (its ImagingPaletteNew initialises
//   every entry to the gray ramp (i, i, i) and PLTE overwrites the first ones).
// - an empty IDAT before the first non-empty one makes stb_image memcpy 0 bytes to a null
//   buffer (undefined behaviour, found by fuzzing). Empty IDAT chunks carry no data: dropped.
// - a chunk before IEND that declares more bytes than the file holds is truncated: stb_image
//   would fail on it too, but only after growing its IDAT buffer to the declared length (up to
//   2 GiB for a few bytes of input, found by fuzzing). So would a partial chunk header at the
//   end, which stb reads as zeros past the end (an empty IDAT there: the memcpy to null above).
//   Both are reported as errors here instead.
// One pass over the chunks: with out == nullptr only reports whether a rewrite is needed (most
// PNGs: no copy is made); with out, writes the rewritten PNG.
struct PngScan {
  bool changed = false;
  std::string truncated;  // non-empty: why the file is rejected
};

PngScan rewrite_png_chunks(const uint8_t* d, size_t n, bool palette, std::vector<uint8_t>* out) {
  if (out) out->assign(d, d + 8);
  size_t pos = 8;
  PngScan scan;
  while (pos < n) {
    if (n - pos < 12) {
      scan.truncated = "PNG truncated: " + std::to_string(n - pos) + " bytes at byte " + std::to_string(pos) +
                       " where a chunk (12 bytes at least) or IEND should be";
      return scan;
    }
    const uint32_t len = be32(d + pos);
    const uint32_t type = be32(d + pos + 4);
    if (len > n - pos - 12) {
      std::string name(reinterpret_cast<const char*>(d + pos + 4), 4);
      for (char& c : name) c = (c >= 0x21 && c <= 0x7E) ? c : '?';
      scan.truncated = "PNG truncated or corrupt: chunk '" + name + "' at byte " + std::to_string(pos) + " declares " +
                       std::to_string(len) + " bytes of data (+4 of CRC), " + std::to_string(n - pos - 8) + " follow its header";
      return scan;
    }
    if (type == 0x49444154u /*IDAT*/ && len == 0) {
      scan.changed = true;
    } else if (palette && type == 0x504C5445u /*PLTE*/ && len % 3 == 0 && len < 768) {
      scan.changed = true;
      if (out) {
        std::vector<uint8_t> body(d + pos + 4, d + pos + 8 + len);  // type + entries
        for (uint32_t i = len / 3; i < 256; ++i) body.insert(body.end(), {static_cast<uint8_t>(i), static_cast<uint8_t>(i), static_cast<uint8_t>(i)});
        const uint32_t nl = 768, crc = png_crc(body.data(), body.size());
        out->insert(out->end(), {static_cast<uint8_t>(nl >> 24), static_cast<uint8_t>(nl >> 16), static_cast<uint8_t>(nl >> 8), static_cast<uint8_t>(nl)});
        out->insert(out->end(), body.begin(), body.end());
        out->insert(out->end(), {static_cast<uint8_t>(crc >> 24), static_cast<uint8_t>(crc >> 16), static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc)});
      }
    } else if (out) {
      out->insert(out->end(), d + pos, d + pos + 12 + len);
    }
    pos += 12 + static_cast<size_t>(len);
    if (type == 0x49454E44u /*IEND*/) break;  // stb_image stops reading here
  }
  if (out) out->insert(out->end(), d + pos, d + n);
  return scan;
}

// The PNG to hand to stb_image: empty when the original can go as is.
Result<std::vector<uint8_t>> png_for_stb(const uint8_t* d, size_t n) {
  if (n < 33 || be32(d + 12) != 0x49484452u /*IHDR*/) return std::vector<uint8_t>();
  const bool palette = d[25] == 3;
  const PngScan scan = rewrite_png_chunks(d, n, palette, nullptr);
  if (!scan.truncated.empty()) return image_decode_error(scan.truncated);
  std::vector<uint8_t> out;
  if (scan.changed) rewrite_png_chunks(d, n, palette, &out);
  return out;
}

}  // namespace

Status stb_probe(const uint8_t* data, size_t size, int* width, int* height) {
  if (size > static_cast<size_t>(INT32_MAX)) return image_decode_error("image larger than 2 GB");
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &n)) {
    return image_decode_error("image header unreadable: " + stb_reason());
  }
  *width = w;
  *height = h;
  return Status::Ok();
}

// PIL.PngImagePlugin / BmpImagePlugin (+ JpegImagePlugin fallback) then convert("RGB").
Result<RgbImage> stb_decode(const uint8_t* data, size_t size, Format format) {
  if (size > static_cast<size_t>(INT32_MAX)) return image_decode_error("image larger than 2 GB");
  if (format == Format::kBmp) MBLIP_RETURN_IF_ERROR(check_bmp_complete(data, size));
  std::vector<uint8_t> rewritten;
  if (format == Format::kPng) {
    MBLIP_ASSIGN_OR_RETURN(rewritten, png_for_stb(data, size));
  }
  if (!rewritten.empty()) {
    data = rewritten.data();
    size = rewritten.size();
    if (size > static_cast<size_t>(INT32_MAX)) return image_decode_error("image larger than 2 GB");
  }
  const int len = static_cast<int>(size);
  RgbImage out;
  int w = 0, h = 0, n = 0;
  // 16-bit grayscale PNG: Pillow opens it as mode "I" (32-bit ints) and convert("RGB") clamps
  // to 0..255 -- no scaling. Every other 16-bit PNG is unpacked to its high byte, as stb does.
  const bool png_gray16 = format == Format::kPng && size >= 29 && be32(data + 12) == 0x49484452u /*IHDR*/ &&
                          data[24] == 16 && data[25] == 0;
  if (png_gray16) {
    stbi_us* p = stbi_load_16_from_memory(data, len, &w, &h, &n, 1);
    if (!p) return image_decode_error("PNG decode failed: " + stb_reason());
    out.width = w;
    out.height = h;
    const size_t count = static_cast<size_t>(w) * h;
    out.rgb.resize(count * 3);
    for (size_t i = 0; i < count; ++i) {
      const uint8_t v = p[i] > 255 ? 255 : static_cast<uint8_t>(p[i]);
      out.rgb[3 * i] = out.rgb[3 * i + 1] = out.rgb[3 * i + 2] = v;
    }
    stbi_image_free(p);
    return out;
  }
  stbi_uc* p = stbi_load_from_memory(data, len, &w, &h, &n, 3);
  if (!p) return image_decode_error(std::string(format_name(format)) + " decode failed: " + stb_reason());
  out.width = w;
  out.height = h;
  out.rgb.assign(p, p + static_cast<size_t>(w) * h * 3);
  stbi_image_free(p);
  return out;
}

}  // namespace image_detail
}  // namespace mblip
