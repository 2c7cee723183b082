// decode_image: format sniffing, the max-pixels cap (checked from the header before decoding),
// dispatch to libjpeg-turbo / stb_image / the GIF reader, EXIF orientation; RGBA -> RGB helper.
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "image/image.h"

namespace mblip {
namespace image_detail {

Format sniff_format(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::kJpeg;
  if (n >= 8 && d[0] == 0x89 && d[1] == 'P' && d[2] == 'N' && d[3] == 'G' && d[4] == 0x0D && d[5] == 0x0A &&
      d[6] == 0x1A && d[7] == 0x0A) {
    return Format::kPng;
  }
  if (n >= 6 && d[0] == 'G' && d[1] == 'I' && d[2] == 'F' && d[3] == '8' && (d[4] == '7' || d[4] == '9') &&
      d[5] == 'a') {
    return Format::kGif;
  }
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return Format::kBmp;
  return Format::kUnknown;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kJpeg: return "JPEG";
    case Format::kPng: return "PNG";
    case Format::kBmp: return "BMP";
    case Format::kGif: return "GIF";
    default: return "unknown";
  }
}

namespace {

uint32_t be32(const uint8_t* p) { return (static_cast<uint32_t>(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

// PNG: IHDR must be the first chunk; width/height are big-endian u32 (at most 2^31 - 1).
Status png_probe(const uint8_t* d, size_t n, int* width, int* height) {
  if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0) return image_decode_error("PNG truncated or corrupt: no IHDR chunk");
  const uint32_t w = be32(d + 16), h = be32(d + 20);
  if (w > 0x7FFFFFFFu || h > 0x7FFFFFFFu) return image_decode_error("PNG header has invalid dimensions");
  *width = static_cast<int>(w);
  *height = static_cast<int>(h);
  return Status::Ok();
}

// BMP: BITMAPCOREHEADER (12 bytes, u16 sizes) or BITMAPINFOHEADER and later (i32, height < 0 = top-down).
Status bmp_probe(const uint8_t* d, size_t n, int* width, int* height) {
  if (n < 26) return image_decode_error("BMP truncated: header incomplete");
  const uint32_t dib = le32(d + 14);
  if (dib == 12) {
    *width = d[18] | (d[19] << 8);
    *height = d[20] | (d[21] << 8);
    return Status::Ok();
  }
  const int32_t w = static_cast<int32_t>(le32(d + 18)), h = static_cast<int32_t>(le32(d + 22));
  if (w < 0 || h == INT32_MIN) return image_decode_error("BMP header has invalid dimensions");
  *width = w;
  *height = h < 0 ? -h : h;
  return Status::Ok();
}

}  // namespace
}  // namespace image_detail

using namespace image_detail;

Result<ImageInfo> probe_image(const uint8_t* data, size_t size) {
  if (data == nullptr || size == 0) return image_decode_error("image is empty (0 bytes)");
  const Format f = sniff_format(data, size);
  ImageInfo info;
  info.format = format_name(f);
  switch (f) {
    case Format::kUnknown:
      return image_decode_error("unknown image format (supported: JPEG, PNG, BMP, GIF); first bytes are not a known signature");
    case Format::kJpeg:
      if (have_libjpeg()) {
        MBLIP_RETURN_IF_ERROR(jpeg_probe(data, size, &info.width, &info.height));
      } else {
        MBLIP_RETURN_IF_ERROR(stb_probe(data, size, &info.width, &info.height));
      }
      break;
    case Format::kGif: MBLIP_RETURN_IF_ERROR(gif_probe(data, size, &info.width, &info.height)); break;
    case Format::kPng: MBLIP_RETURN_IF_ERROR(png_probe(data, size, &info.width, &info.height)); break;
    case Format::kBmp: MBLIP_RETURN_IF_ERROR(bmp_probe(data, size, &info.width, &info.height)); break;
  }
  if (info.width <= 0 || info.height <= 0) {
    return image_decode_error(std::string(info.format) + " has zero width or height (" + std::to_string(info.width) +
                              "x" + std::to_string(info.height) + ")");
  }
  return info;
}

namespace {

Result<RgbImage> decode_image_impl(const uint8_t* data, size_t size, const ImageDecodeOptions& options) {
  if (options.max_pixels <= 0) return invalid_argument("ImageDecodeOptions.max_pixels must be positive");
  MBLIP_ASSIGN_OR_RETURN(ImageInfo info, probe_image(data, size));
  const int64_t pixels = static_cast<int64_t>(info.width) * info.height;
  if (pixels > options.max_pixels) {
    return image_decode_error(std::string(info.format) + " is " + std::to_string(info.width) + "x" +
                              std::to_string(info.height) + " = " + std::to_string(pixels) +
                              " pixels, more than the limit of " + std::to_string(options.max_pixels) +
                              " (ImageDecodeOptions.max_pixels)");
  }
  const Format f = sniff_format(data, size);
  Result<RgbImage> decoded = image_decode_error("unreachable");
  if (f == Format::kJpeg && have_libjpeg()) {
    decoded = jpeg_decode(data, size, options.max_pixels);
  } else if (f == Format::kGif) {
    decoded = gif_decode(data, size, options.max_pixels);
  } else {
    decoded = stb_decode(data, size, f);
  }
  if (!decoded.ok()) return decoded.status();
  RgbImage img = std::move(decoded).value();
  if (img.width <= 0 || img.height <= 0 ||
      img.rgb.size() != static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3) {
    return image_decode_error(std::string(info.format) + " decoder returned an inconsistent image");
  }
  if (options.apply_exif_orientation) {
    const int orientation = read_exif_orientation(data, size, f);
    if (orientation != 1) img = apply_orientation(img, orientation);
  }
  return img;
}

}  // namespace

// transformers.image_utils.load_image (+ ImageOps.exif_transpose when asked) then convert("RGB").
Result<RgbImage> decode_image(const uint8_t* data, size_t size, const ImageDecodeOptions& options) {
  try {
    return decode_image_impl(data, size, options);
  } catch (const std::bad_alloc&) {
    return out_of_memory("image decode: out of memory (lower ImageDecodeOptions.max_pixels?)");
  }
}

Result<RgbImage> rgb_from_rgba(const uint8_t* rgba, size_t size, int width, int height) {
  if (width <= 0 || height <= 0) {
    return image_decode_error("RGBA image has zero or negative size (" + std::to_string(width) + "x" +
                              std::to_string(height) + ")");
  }
  const int64_t n64 = static_cast<int64_t>(width) * height;
  const size_t n = static_cast<size_t>(n64);
  if (rgba == nullptr || static_cast<uint64_t>(n64) > SIZE_MAX / 4 || size != n * 4) {
    return image_decode_error("RGBA buffer has " + std::to_string(size) + " bytes, expected " +
                              std::to_string(width) + "*" + std::to_string(height) + "*4");
  }
  RgbImage out;
  out.width = width;
  out.height = height;
  out.rgb.resize(n * 3);
  for (size_t i = 0; i < n; ++i) {
    out.rgb[3 * i] = rgba[4 * i];
    out.rgb[3 * i + 1] = rgba[4 * i + 1];
    out.rgb[3 * i + 2] = rgba[4 * i + 2];
  }
  return out;
}

}  // namespace mblip
