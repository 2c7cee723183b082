// BlipImageProcessor rescale + normalise to channels-first float32, and preprocess_image
// (resize + rescale + normalise) exactly as transformers 4.36 computes them.
#include <string>

#include "image/image.h"

namespace mblip {

// transformers.image_transforms.rescale (uint8 * factor in double, cast to float32) then
// normalize ((x - mean) / std in float32), then to_channel_dimension_format(FIRST).
Result<std::vector<float>> normalize(const RgbImage& image, const PreprocessConfig& config) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3) {
    return invalid_argument("normalize: input image is empty or its pixel buffer has the wrong size");
  }
  if (config.do_normalize && (config.mean.size() != 3 || config.std.size() != 3)) {
    return invalid_argument("preprocess config: image_mean and image_std need 3 values each");
  }
  for (size_t c = 0; config.do_normalize && c < 3; ++c) {
    if (!(config.std[c] != 0.0f)) return invalid_argument("preprocess config: image_std has a zero entry");
  }
  // One lookup table per channel: every uint8 value maps to exactly one float.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      float x = config.do_rescale ? static_cast<float>(static_cast<double>(v) * config.rescale_factor)
                                  : static_cast<float>(v);
      if (config.do_normalize) {
        x = (x - config.mean[c]) / config.std[c];  // float32, as numpy on float32 arrays
      }
      lut[c][v] = x;
    }
  }
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  std::vector<float> out(plane * 3);
  for (size_t i = 0; i < plane; ++i) {
    out[i] = lut[0][image.rgb[3 * i]];
    out[plane + i] = lut[1][image.rgb[3 * i + 1]];
    out[2 * plane + i] = lut[2][image.rgb[3 * i + 2]];
  }
  return out;
}

// BlipImageProcessor.preprocess for one already-RGB image.
Result<std::vector<float>> preprocess_image(const RgbImage& image, const PreprocessConfig& config) {
  if (!config.do_resize) return normalize(image, config);
  if (config.height <= 0 || config.width <= 0 || config.height > 65536 || config.width > 65536) {
    return invalid_argument("preprocess config: size " + std::to_string(config.width) + "x" +
                            std::to_string(config.height) + " out of range");
  }
  if (config.resample != 3) {
    return unsupported("preprocess config: resample " + std::to_string(config.resample) +
                       " (only 3 = PIL BICUBIC is implemented)");
  }
  MBLIP_ASSIGN_OR_RETURN(RgbImage resized,
                         resize_bicubic(image, static_cast<int>(config.width), static_cast<int>(config.height)));
  return normalize(resized, config);
}

}  // namespace mblip
