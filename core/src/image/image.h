// Image preprocessing for BLIP-2 / mBLIP: bytes -> RGB (Pillow's Image.open + convert("RGB")),
// optional EXIF orientation, Pillow-exact BICUBIC resize, rescale + normalise (BlipImageProcessor).
// Everything returns Status/Result; hostile bytes give StatusCode::kImageDecode, never a crash.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mblip/status.h"

namespace mblip {

// BlipImageProcessor settings (stored in the model file's metadata: model/config.h)
struct PreprocessConfig {
  int64_t height = 224, width = 224;
  int64_t resample = 3;               // PIL BICUBIC
  bool do_resize = true, do_rescale = true, do_normalize = true, do_convert_rgb = true;
  double rescale_factor = 0.00392156862745098;
  std::vector<float> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::vector<float> std = {0.26862954f, 0.26130258f, 0.27577711f};
};

// Interleaved 8-bit RGB, row-major, rgb.size() == width * height * 3.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

struct ImageDecodeOptions {
  // Apply the EXIF Orientation tag like browsers and transformers.image_utils.load_image
  // (ImageOps.exif_transpose). false = what BlipImageProcessor sees from Image.open (mBLIP card).
  bool apply_exif_orientation = true;
  // Images with more pixels than this are rejected from the header, before any pixel is decoded.
  // Default 64 megapixels (8000 x 8000); an RGB copy of that is 192 MB.
  int64_t max_pixels = 64'000'000;
};

// Decodes JPEG (baseline/progressive/arithmetic; gray, YCbCr, CMYK/YCCK), PNG (1-16 bit, gray,
// gray+alpha, palette, RGB, RGBA, interlaced), BMP and GIF (first frame) to RGB as Pillow 9.4's
// Image.open(f).convert("RGB") does (alpha dropped, palette transparency ignored, 16-bit gray
// clamped to 0..255, 16-bit colour reduced to the high byte, CMYK via Pillow's formula).
Result<RgbImage> decode_image(const uint8_t* data, size_t size, const ImageDecodeOptions& options = {});

// Width/height read from the header only (no pixel decoding). Unknown format -> kImageDecode.
struct ImageInfo {
  int width = 0, height = 0;
  const char* format = "";  // "JPEG", "PNG", "BMP", "GIF"
};
Result<ImageInfo> probe_image(const uint8_t* data, size_t size);

// Browser path: already-decoded RGBA (e.g. ImageData) -> RGB, alpha dropped (not composited).
Result<RgbImage> rgb_from_rgba(const uint8_t* rgba, size_t size, int width, int height);

// PIL Image.resize(size, Image.BICUBIC) for an RGB image (Resample.c: ImagingResample).
Result<RgbImage> resize_bicubic(const RgbImage& image, int width, int height);

// BlipImageProcessor.rescale + normalize: (3, H, W) float32, channels first, no resize.
Result<std::vector<float>> normalize(const RgbImage& image, const PreprocessConfig& config);

// BlipImageProcessor.preprocess for one image: resize to config height x width (if do_resize),
// rescale and normalise -> (3, height, width) float32. The (H, W, 3) layout is always known, so
// HF's channel-axis guessing (which breaks images of height 1 or 3) is not reproduced.
Result<std::vector<float>> preprocess_image(const RgbImage& image, const PreprocessConfig& config);

// ---- internals shared by the image/*.cpp files (not part of the public API) ----
namespace image_detail {

enum class Format { kUnknown, kJpeg, kPng, kBmp, kGif };
Format sniff_format(const uint8_t* data, size_t size);
const char* format_name(Format f);

// EXIF orientation (1..8) from a JPEG APP1 or PNG eXIf chunk; 1 when absent or unreadable.
int read_exif_orientation(const uint8_t* data, size_t size, Format format);
// Parses a TIFF-structured EXIF block ("II*\0"/"MM\0*" ...) and returns tag 0x0112 or 1.
int exif_orientation_from_tiff(const uint8_t* tiff, size_t size);
// ImageOps.exif_transpose for orientation 2..8 (others: unchanged).
RgbImage apply_orientation(const RgbImage& image, int orientation);

// GIF first frame (own decoder, Pillow semantics incl. transparency index on the canvas).
Status gif_probe(const uint8_t* data, size_t size, int* width, int* height);
Result<RgbImage> gif_decode(const uint8_t* data, size_t size, int64_t max_pixels);

// Header-only dimensions via stb_image (used for JPEG when libjpeg is absent).
Status stb_probe(const uint8_t* data, size_t size, int* width, int* height);
// Full decode via stb_image to RGB with Pillow's conversions (PNG, BMP; JPEG fallback).
Result<RgbImage> stb_decode(const uint8_t* data, size_t size, Format format);

// libjpeg-turbo decode with Pillow's settings; compiled only with MBLIP_HAVE_LIBJPEG.
bool have_libjpeg();
Status jpeg_probe(const uint8_t* data, size_t size, int* width, int* height);
Result<RgbImage> jpeg_decode(const uint8_t* data, size_t size, int64_t max_pixels);

}  // namespace image_detail
}  // namespace mblip
