// EXIF Orientation: a bounds-checked reader for the JPEG APP1 "Exif" segment and the PNG eXIf
// chunk (TIFF IFD0 tag 0x0112), and PIL.ImageOps.exif_transpose's eight transforms.
#include <cstring>

#include "image/image.h"

namespace mblip {
namespace image_detail {

namespace {

uint32_t be32(const uint8_t* p) { return (static_cast<uint32_t>(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

}  // namespace

int exif_orientation_from_tiff(const uint8_t* t, size_t size) {
  if (size < 8) return 1;
  bool le;
  if (t[0] == 'I' && t[1] == 'I') le = true;
  else if (t[0] == 'M' && t[1] == 'M') le = false;
  else return 1;
  auto u16 = [&](size_t o) -> uint32_t { return le ? (t[o] | (t[o + 1] << 8)) : ((t[o] << 8) | t[o + 1]); };
  auto u32 = [&](size_t o) -> uint32_t {
    return le ? (t[o] | (t[o + 1] << 8) | (t[o + 2] << 16) | (static_cast<uint32_t>(t[o + 3]) << 24))
              : ((static_cast<uint32_t>(t[o]) << 24) | (t[o + 1] << 16) | (t[o + 2] << 8) | t[o + 3]);
  };
  if (u16(2) != 42) return 1;
  const uint32_t ifd = u32(4);
  if (ifd < 8 || ifd > size || size - ifd < 2) return 1;
  const uint32_t count = u16(ifd);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = static_cast<size_t>(ifd) + 2 + static_cast<size_t>(i) * 12;
    if (e + 12 > size) return 1;
    if (u16(e) != 0x0112) continue;
    const uint32_t type = u16(e + 2), n = u32(e + 4);
    if (n < 1) return 1;
    uint32_t v = 0;
    if (type == 3) v = u16(e + 8);       // SHORT (the standard type)
    else if (type == 4) v = u32(e + 8);  // LONG
    else if (type == 1) v = t[e + 8];    // BYTE
    else return 1;
    return (v >= 1 && v <= 8) ? static_cast<int>(v) : 1;
  }
  return 1;
}

// PIL.JpegImagePlugin APP handler (first "Exif\0" APP1 wins) / PngImagePlugin chunk_eXIf.
int read_exif_orientation(const uint8_t* d, size_t size, Format format) {
  if (format == Format::kJpeg) {
    if (size < 4 || d[0] != 0xFF || d[1] != 0xD8) return 1;
    size_t pos = 2;
    while (pos + 4 <= size) {
      if (d[pos] != 0xFF) return 1;  // not at a marker: give up (orientation unknown)
      const uint8_t marker = d[pos + 1];
      if (marker == 0xFF) { ++pos; continue; }  // fill byte
      if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; }
      if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan / end of image
      const size_t len = (static_cast<size_t>(d[pos + 2]) << 8) | d[pos + 3];
      if (len < 2 || len > size - pos - 2) return 1;
      const uint8_t* seg = d + pos + 4;
      const size_t seg_len = len - 2;
      if (marker == 0xE1 && seg_len >= 6 && std::memcmp(seg, "Exif\0", 5) == 0) {
        return exif_orientation_from_tiff(seg + 6, seg_len - 6);
      }
      pos += 2 + len;
    }
    return 1;
  }
  if (format == Format::kPng) {
    size_t pos = 8;
    while (pos + 12 <= size) {
      const uint32_t len = be32(d + pos);
      const uint8_t* type = d + pos + 4;
      if (len > size - pos - 12) return 1;
      if (std::memcmp(type, "eXIf", 4) == 0) {
        const uint8_t* p = d + pos + 8;
        size_t n = len;
        if (n >= 6 && std::memcmp(p, "Exif\0\0", 6) == 0) { p += 6; n -= 6; }
        return exif_orientation_from_tiff(p, n);
      }
      if (std::memcmp(type, "IEND", 4) == 0) return 1;
      pos += 12 + static_cast<size_t>(len);
    }
  }
  return 1;
}

// PIL.ImageOps.exif_transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
// 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90 (PIL's rotations are counter-clockwise).
RgbImage apply_orientation(const RgbImage& in, int orientation) {
  if (orientation < 2 || orientation > 8) return in;
  const int W = in.width, H = in.height;
  const bool swap = orientation >= 5;
  RgbImage out;
  out.width = swap ? H : W;
  out.height = swap ? W : H;
  out.rgb.resize(in.rgb.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = W - 1 - x; sy = y; break;
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
        case 4: sx = x; sy = H - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H - 1 - x; break;
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
        case 8: sx = W - 1 - y; sy = x; break;
      }
      std::memcpy(&out.rgb[(static_cast<size_t>(y) * out.width + x) * 3],
                  &in.rgb[(static_cast<size_t>(sy) * W + sx) * 3], 3);
    }
  }
  return out;
}

}  // namespace image_detail
}  // namespace mblip
