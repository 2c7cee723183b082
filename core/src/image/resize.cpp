// Pillow-exact BICUBIC resize (PIL Image.resize(size, BICUBIC) -> libImaging/Resample.c
// semantics, own implementation): separable, horizontal pass first into an 8-bit image, weights
// computed in double, normalised, then fixed point with 22 fractional bits.
#include <cmath>
#include <string>

#include "image/image.h"

namespace mblip {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // 22

// Cubic convolution kernel with a = -0.5 (Keys), support 2.
double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> xmin, count;  // first input index and number of taps per output index
  std::vector<int32_t> k;        // out_size * ksize fixed-point weights
};

// Resample.c precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size).
Coeffs precompute(int in_size, int out_size) {
  Coeffs c;
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 2.0 * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  const double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    if (xmax > c.ksize) xmax = c.ksize;  // cannot happen; keeps indexing provably in range
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      total += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      double v = total != 0.0 ? w[x] / total : w[x];
      c.k[static_cast<size_t>(xx) * c.ksize + x] =
          v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.xmin[xx] = xmin;
    c.count[xx] = xmax < 0 ? 0 : xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t in) {
  if (in >= (1 << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return static_cast<uint8_t>(in >> kPrecisionBits);
}

// ImagingResampleHorizontal_8bpc on rows [y0, y0 + rows) of `in`.
RgbImage resample_horizontal(const RgbImage& in, int out_w, int y0, int rows, const Coeffs& c) {
  RgbImage out;
  out.width = out_w;
  out.height = rows;
  out.rgb.resize(static_cast<size_t>(out_w) * rows * 3);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = &in.rgb[static_cast<size_t>(y0 + y) * in.width * 3];
    uint8_t* dst = &out.rgb[static_cast<size_t>(y) * out_w * 3];
    for (int xx = 0; xx < out_w; ++xx) {
      const int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      const uint8_t* s = src + static_cast<size_t>(c.xmin[xx]) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < c.count[xx]; ++x) {
        s0 += s[3 * x] * k[x];
        s1 += s[3 * x + 1] * k[x];
        s2 += s[3 * x + 2] * k[x];
      }
      dst[3 * xx] = clip8(s0);
      dst[3 * xx + 1] = clip8(s1);
      dst[3 * xx + 2] = clip8(s2);
    }
  }
  return out;
}

// ImagingResampleVertical_8bpc; `shift` is subtracted from each window start (rows already cut).
RgbImage resample_vertical(const RgbImage& in, int out_h, int shift, const Coeffs& c) {
  RgbImage out;
  out.width = in.width;
  out.height = out_h;
  const size_t row = static_cast<size_t>(in.width) * 3;
  out.rgb.resize(row * out_h);
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    const uint8_t* base = &in.rgb[static_cast<size_t>(c.xmin[yy] - shift) * row];
    uint8_t* dst = &out.rgb[static_cast<size_t>(yy) * row];
    for (size_t i = 0; i < row; ++i) {
      int32_t s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < c.count[yy]; ++y) s += base[static_cast<size_t>(y) * row + i] * k[y];
      dst[i] = clip8(s);
    }
  }
  return out;
}

}  // namespace

// PIL.Image.Image.resize(size, resample=BICUBIC) -> ImagingResample (Resample.c), as called by
// transformers.image_transforms.resize for BlipImageProcessor.
Result<RgbImage> resize_bicubic(const RgbImage& image, int width, int height) {
  if (width <= 0 || height <= 0 || width > (1 << 16) || height > (1 << 16)) {
    return invalid_argument("resize target " + std::to_string(width) + "x" + std::to_string(height) +
                            " out of range (1..65536)");
  }
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3) {
    return invalid_argument("resize: input image is empty or its pixel buffer has the wrong size");
  }
  const bool need_h = width != image.width, need_v = height != image.height;
  if (!need_h && !need_v) return image;
  const Coeffs ch = precompute(image.width, width);
  const Coeffs cv = precompute(image.height, height);
  // Only the rows the vertical pass reads go through the horizontal pass.
  const int first = cv.xmin[0];
  const int last = cv.xmin[height - 1] + cv.count[height - 1];
  if (!need_h) return resample_vertical(image, height, 0, cv);
  RgbImage tmp = resample_horizontal(image, width, need_v ? first : 0, need_v ? last - first : image.height, ch);
  if (!need_v) return tmp;
  return resample_vertical(tmp, height, first, cv);
}

}  // namespace mblip
