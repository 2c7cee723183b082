// GIF first frame as Pillow 9.4 (GifImagePlugin + GifDecode.c) reads it: palette indices on a
// canvas filled with the transparency index (or 0), then P -> RGB through the palette, whose
// unset entries are Pillow's grey ramp. Every read is bounds-checked; missing data is an error.
#include <array>
#include <cstring>
#include <string>

#include "image/image.h"

namespace mblip {
namespace image_detail {

namespace {

struct Reader {
  const uint8_t* p;
  size_t size;
  size_t pos = 0;
  bool have(size_t n) const { return pos <= size && size - pos >= n; }
};

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

Status truncated(const char* where) { return image_decode_error(std::string("GIF truncated: ") + where); }

// Skips data sub-blocks up to and including the zero-length terminator.
Status skip_sub_blocks(Reader& r) {
  for (;;) {
    if (!r.have(1)) return truncated("in a data sub-block");
    const uint8_t n = r.p[r.pos++];
    if (n == 0) return Status::Ok();
    if (!r.have(n)) return truncated("in a data sub-block");
    r.pos += n;
  }
}

// Variable-width LZW (GIF89a appendix F), writing palette indices in raster order to `out`.
Status lzw_decode(Reader& r, int min_code_size, std::vector<uint8_t>& out, size_t pixels) {
  const int clear = 1 << min_code_size, eoi = clear + 1;
  std::vector<uint16_t> prefix(4096);
  std::vector<uint8_t> suffix(4096), stack(4097);
  int code_size = min_code_size + 1, next = clear + 2, prev = -1;
  uint8_t first = 0;
  uint32_t bits = 0;
  int nbits = 0;
  size_t written = 0;
  for (int i = 0; i < clear; ++i) { prefix[i] = 0; suffix[i] = static_cast<uint8_t>(i); }
  for (;;) {
    if (!r.have(1)) return truncated("in the image data");
    const uint8_t block = r.p[r.pos++];
    if (block == 0) return Status::Ok();  // end of image data before an end code: keep what we have
    if (!r.have(block)) return truncated("in the image data");
    const uint8_t* b = r.p + r.pos;
    r.pos += block;
    for (int i = 0; i < block; ++i) {
      bits |= static_cast<uint32_t>(b[i]) << nbits;
      nbits += 8;
      while (nbits >= code_size) {
        const int code = static_cast<int>(bits & ((1u << code_size) - 1));
        bits >>= code_size;
        nbits -= code_size;
        if (code == clear) {
          code_size = min_code_size + 1;
          next = clear + 2;
          prev = -1;
          continue;
        }
        if (code == eoi) return skip_sub_blocks(r);
        if (prev < 0) {
          if (code >= clear) return image_decode_error("GIF image data corrupt: bad first LZW code");
          first = static_cast<uint8_t>(code);
          if (written < pixels) out[written++] = first;
          prev = code;
          continue;
        }
        int cur = code, sp = 0;
        if (code > next || (code == next && next >= 4096)) {
          return image_decode_error("GIF image data corrupt: LZW code out of range");
        }
        if (code == next) {  // KwKwK
          stack[sp++] = first;
          cur = prev;
        }
        while (cur >= clear) {
          stack[sp++] = suffix[cur];
          cur = prefix[cur];
        }
        first = static_cast<uint8_t>(cur);
        stack[sp++] = first;
        while (sp > 0) {
          const uint8_t v = stack[--sp];
          if (written < pixels) out[written++] = v;
        }
        if (next < 4096) {
          prefix[next] = static_cast<uint16_t>(prev);
          suffix[next] = first;
          ++next;
          if (next == (1 << code_size) && code_size < 12) ++code_size;
        }
        prev = code;
      }
    }
  }
}

struct Header {
  int width = 0, height = 0;
  bool global_palette = false;
  int global_entries = 0;
};

Status read_header(Reader& r, Header* h) {
  if (!r.have(13)) return truncated("in the header");
  if (std::memcmp(r.p, "GIF87a", 6) != 0 && std::memcmp(r.p, "GIF89a", 6) != 0) {
    return image_decode_error("not a GIF file");
  }
  h->width = le16(r.p + 6);
  h->height = le16(r.p + 8);
  const uint8_t flags = r.p[10];
  h->global_palette = (flags & 0x80) != 0;
  h->global_entries = 2 << (flags & 7);
  r.pos = 13;
  return Status::Ok();
}

}  // namespace

Status gif_probe(const uint8_t* data, size_t size, int* width, int* height) {
  Reader r{data, size};
  Header h;
  MBLIP_RETURN_IF_ERROR(read_header(r, &h));
  *width = h.width;
  *height = h.height;
  return Status::Ok();
}

// PIL.GifImagePlugin.GifImageFile (frame 0) + convert("RGB").
Result<RgbImage> gif_decode(const uint8_t* data, size_t size, int64_t max_pixels) {
  Reader r{data, size};
  Header h;
  MBLIP_RETURN_IF_ERROR(read_header(r, &h));
  if (h.width <= 0 || h.height <= 0) return image_decode_error("GIF has zero width or height");
  if (static_cast<int64_t>(h.width) * h.height > max_pixels) {
    return image_decode_error("GIF is " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                              ", more than the limit of " + std::to_string(max_pixels) + " pixels");
  }
  // Pillow's palette starts as a grey ramp; the file's entries overwrite the first ones.
  std::array<uint8_t, 768> global{}, palette{};
  for (int i = 0; i < 256; ++i) global[3 * i] = global[3 * i + 1] = global[3 * i + 2] = static_cast<uint8_t>(i);
  if (h.global_palette) {
    if (!r.have(3 * static_cast<size_t>(h.global_entries))) return truncated("in the global palette");
    std::memcpy(global.data(), r.p + r.pos, 3 * static_cast<size_t>(h.global_entries));
    r.pos += 3 * static_cast<size_t>(h.global_entries);
  }
  int transparency = -1;
  for (;;) {
    if (!r.have(1)) return truncated("before the first image");
    const uint8_t tag = r.p[r.pos++];
    if (tag == 0x21) {  // extension
      if (!r.have(1)) return truncated("in an extension");
      const uint8_t label = r.p[r.pos++];
      if (label == 0xF9 && r.have(5) && r.p[r.pos] >= 4 && (r.p[r.pos + 1] & 1)) transparency = r.p[r.pos + 4];
      MBLIP_RETURN_IF_ERROR(skip_sub_blocks(r));
    } else if (tag == 0x2C) {  // image descriptor
      if (!r.have(9)) return truncated("in the image descriptor");
      const int x0 = le16(r.p + r.pos), y0 = le16(r.p + r.pos + 2);
      const int fw = le16(r.p + r.pos + 4), fh = le16(r.p + r.pos + 6);
      const uint8_t flags = r.p[r.pos + 8];
      r.pos += 9;
      palette = global;
      if (flags & 0x80) {
        const size_t entries = 2u << (flags & 7);
        if (!r.have(3 * entries)) return truncated("in the local palette");
        for (int i = 0; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = static_cast<uint8_t>(i);
        std::memcpy(palette.data(), r.p + r.pos, 3 * entries);
        r.pos += 3 * entries;
      }
      if (!r.have(1)) return truncated("before the image data");
      const int min_code_size = r.p[r.pos++];
      if (min_code_size < 1 || min_code_size > 8) {
        return image_decode_error("GIF image data corrupt: LZW code size " + std::to_string(min_code_size));
      }
      if (static_cast<int64_t>(fw) * fh > max_pixels) {
        return image_decode_error("GIF frame is " + std::to_string(fw) + "x" + std::to_string(fh) +
                                  ", more than the limit of " + std::to_string(max_pixels) + " pixels");
      }
      const size_t pixels = static_cast<size_t>(fw) * static_cast<size_t>(fh);
      std::vector<uint8_t> frame(pixels, transparency >= 0 ? static_cast<uint8_t>(transparency) : 0);
      MBLIP_RETURN_IF_ERROR(lzw_decode(r, min_code_size, frame, pixels));
      // Canvas (frame 0): transparency index where the frame does not draw, else index 0.
      std::vector<uint8_t> canvas(static_cast<size_t>(h.width) * h.height,
                                  transparency >= 0 ? static_cast<uint8_t>(transparency) : 0);
      const bool interlaced = (flags & 0x40) != 0;
      static const int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
      int pass = 0, row = 0;
      for (int i = 0; i < fh; ++i) {
        int y = i;
        if (interlaced) {
          while (pass < 4 && row >= fh) {
            ++pass;
            row = pass < 4 ? kStart[pass] : fh;
          }
          y = row;
          row += kStep[pass < 4 ? pass : 3];
        }
        const int cy = y0 + y;
        if (cy >= h.height || y >= fh) continue;
        for (int x = 0; x < fw; ++x) {
          const int cx = x0 + x;
          if (cx >= h.width) break;
          canvas[static_cast<size_t>(cy) * h.width + cx] = frame[static_cast<size_t>(i) * fw + x];
        }
      }
      RgbImage out;
      out.width = h.width;
      out.height = h.height;
      out.rgb.resize(canvas.size() * 3);
      for (size_t i = 0; i < canvas.size(); ++i) std::memcpy(&out.rgb[3 * i], &palette[3 * canvas[i]], 3);
      return out;
    } else if (tag == 0x3B) {
      return image_decode_error("GIF has no image");
    } else {
      return image_decode_error("GIF corrupt: unknown block type " + std::to_string(tag));
    }
  }
}

}  // namespace image_detail
}  // namespace mblip
