// Image preprocessing vs the golden Pillow/transformers arrays (bit-exact), EXIF orientation,
// and hostile input (truncated, garbage, empty, huge headers) -> kImageDecode, never a crash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "image/image.h"
#include "support/golden.h"

using namespace mblip;
using mblip_test::golden_dir;
using mblip_test::load_npy;
using mblip_test::read_file;

namespace {

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

size_t count_u8_mismatch(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return std::max(a.size(), b.size());
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

// Bitwise comparison of float32 arrays (the golden is numpy's float32 result).
size_t count_f32_mismatch(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::max(a.size(), b.size());
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

std::string images_dir() { return golden_dir() + "/images/"; }

PreprocessConfig config_from_manifest(const nlohmann::json& m) {
  const auto& p = m["preprocessor_config"];
  PreprocessConfig c;
  c.height = p["size"]["height"].get<int64_t>();
  c.width = p["size"]["width"].get<int64_t>();
  c.rescale_factor = p["rescale_factor"].get<double>();
  c.mean.clear();
  c.std.clear();
  for (const auto& v : p["image_mean"]) c.mean.push_back(static_cast<float>(v.get<double>()));
  for (const auto& v : p["image_std"]) c.std.push_back(static_cast<float>(v.get<double>()));
  c.resample = p["resample"].get<int64_t>();
  return c;
}

bool has_array(const nlohmann::json& img, const char* name) { return img["arrays"].contains(name); }

// The array a correct runtime must match: HF's default pixel_values, except where HF's channel
// guessing breaks (then the channels_last call) or, with EXIF applied, the load_image variant.
std::string pixel_target(const nlohmann::json& img, bool exif) {
  if (exif && has_array(img, "pixel_values_load_image")) return "pixel_values_load_image";
  if (has_array(img, "pixel_values_channels_last")) return "pixel_values_channels_last";
  return "pixel_values";
}

}  // namespace

TEST_CASE("every golden image: decode, resize and pixel_values are bit-exact", "[image]") {
  MBLIP_REQUIRE_GOLDEN();
  const auto manifest = mblip_test::read_json(images_dir() + "manifest.json");
  const PreprocessConfig cfg = config_from_manifest(manifest);
  REQUIRE(manifest["images"].size() >= 18);
  for (const auto& img : manifest["images"]) {
    const std::string name = img["name"].get<std::string>();
    const auto file = bytes_of(read_file(images_dir() + img["file"].get<std::string>()));
    for (bool exif : {false, true}) {
      INFO("image " << name << " (" << img["pil_format"].get<std::string>() << " " << img["pil_mode"].get<std::string>()
                    << "), EXIF orientation " << (exif ? "applied" : "ignored"));
      ImageDecodeOptions opt;
      opt.apply_exif_orientation = exif;
      auto decoded = decode_image(file.data(), file.size(), opt);
      INFO("decode status: " << decoded.status().to_string());
      REQUIRE(decoded.ok());
      const bool rotated = exif && has_array(img, "pixel_values_load_image");
      if (!rotated) {
        const auto golden = load_npy(images_dir() + name + "/decoded_rgb_u8.npy");
        REQUIRE(decoded->height == golden.shape[0]);
        REQUIRE(decoded->width == golden.shape[1]);
        const size_t mismatch = count_u8_mismatch(decoded->rgb, golden.as_u8());
        INFO("decoded_rgb_u8 mismatches: " << mismatch);
        CHECK(mismatch == 0);
        auto resized = resize_bicubic(*decoded, static_cast<int>(cfg.width), static_cast<int>(cfg.height));
        REQUIRE(resized.ok());
        const size_t rmis = count_u8_mismatch(resized->rgb, load_npy(images_dir() + name + "/resized_rgb_u8.npy").as_u8());
        INFO("resized_rgb_u8 mismatches: " << rmis);
        CHECK(rmis == 0);
      } else {
        // Upright picture: the stored (un-rotated) decode, turned 90 degrees clockwise.
        REQUIRE(img["exif_orientation"].get<int>() == 6);
        const auto golden = load_npy(images_dir() + name + "/decoded_rgb_u8.npy");
        REQUIRE(decoded->width == golden.shape[0]);
        REQUIRE(decoded->height == golden.shape[1]);
      }
      const std::string target = pixel_target(img, exif);
      auto pv = preprocess_image(*decoded, cfg);
      REQUIRE(pv.ok());
      const auto golden_pv = load_npy(images_dir() + name + "/" + target + ".npy");
      REQUIRE(golden_pv.numel() == 3 * cfg.height * cfg.width);
      const size_t pmis = count_f32_mismatch(*pv, golden_pv.as_float());
      INFO(target << " mismatches: " << pmis);
      CHECK(pmis == 0);
    }
  }
}

TEST_CASE("EXIF orientation 6 rotates only when asked", "[image]") {
  MBLIP_REQUIRE_GOLDEN();
  const auto file = bytes_of(read_file(images_dir() + "files/rocket_exif_orient6.jpg"));
  REQUIRE(image_detail::read_exif_orientation(file.data(), file.size(), image_detail::Format::kJpeg) == 6);
  ImageDecodeOptions off;
  off.apply_exif_orientation = false;
  auto raw = decode_image(file.data(), file.size(), off);
  auto upright = decode_image(file.data(), file.size());
  REQUIRE(raw.ok());
  REQUIRE(upright.ok());
  REQUIRE(raw->width == 320);
  REQUIRE(raw->height == 480);
  REQUIRE(upright->width == 480);
  REQUIRE(upright->height == 320);
  // ROTATE_270 (clockwise): upright(x, y) = raw(y, H - 1 - x).
  const int H = raw->height;
  for (int y : {0, 100, 319}) {
    for (int x : {0, 7, 479}) {
      for (int c = 0; c < 3; ++c) {
        REQUIRE(upright->rgb[(static_cast<size_t>(y) * 480 + x) * 3 + c] ==
                raw->rgb[(static_cast<size_t>(H - 1 - x) * 320 + y) * 3 + c]);
      }
    }
  }
}

TEST_CASE("orientation transforms follow ImageOps.exif_transpose identities", "[image]") {
  RgbImage img;
  img.width = 5;
  img.height = 3;
  for (int i = 0; i < 15 * 3; ++i) img.rgb.push_back(static_cast<uint8_t>(i * 5 + 1));
  using image_detail::apply_orientation;
  auto same = [](const RgbImage& a, const RgbImage& b) { return a.width == b.width && a.height == b.height && a.rgb == b.rgb; };
  for (int o : {2, 3, 4, 5, 7}) REQUIRE(same(apply_orientation(apply_orientation(img, o), o), img));  // involutions
  REQUIRE(same(apply_orientation(apply_orientation(img, 6), 8), img));  // CW then CCW
  REQUIRE(same(apply_orientation(apply_orientation(img, 6), 6), apply_orientation(img, 3)));
  REQUIRE(same(apply_orientation(apply_orientation(img, 5), 3), apply_orientation(img, 7)));  // transverse = transpose + 180
  REQUIRE(same(apply_orientation(img, 1), img));
  REQUIRE(same(apply_orientation(img, 9), img));
  const RgbImage t = apply_orientation(img, 5);
  REQUIRE(t.width == 3);
  REQUIRE(t.height == 5);
  REQUIRE(std::memcmp(&t.rgb[(1 * 3 + 2) * 3], &img.rgb[(2 * 5 + 1) * 3], 3) == 0);  // transpose(x=2,y=1) = (1,2)
}

TEST_CASE("EXIF parser is bounds-checked on hostile APP1 segments", "[image]") {
  // Big- and little-endian IFDs with the tag; offsets pointing outside; truncated entries.
  const uint8_t mm[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0};
  REQUIRE(image_detail::exif_orientation_from_tiff(mm, sizeof(mm)) == 8);
  const uint8_t ii[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0};
  REQUIRE(image_detail::exif_orientation_from_tiff(ii, sizeof(ii)) == 3);
  uint8_t bad[sizeof(mm)];
  std::memcpy(bad, mm, sizeof(mm));
  bad[7] = 0xF0;  // IFD offset past the end
  REQUIRE(image_detail::exif_orientation_from_tiff(bad, sizeof(bad)) == 1);
  std::memcpy(bad, mm, sizeof(mm));
  bad[9] = 0xFF;   // 255 entries claimed ...
  bad[11] = 0x13;  // ... and the first one is not Orientation: the scan runs off the end
  REQUIRE(image_detail::exif_orientation_from_tiff(bad, sizeof(bad)) == 1);
  for (size_t cut = 0; cut < sizeof(mm); ++cut) {
    const int o = image_detail::exif_orientation_from_tiff(mm, cut);
    REQUIRE((o == 1 || o == 8));
  }
  // A JPEG whose APP1 length runs past the end of the buffer.
  const uint8_t jpg[] = {0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xF0, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M'};
  REQUIRE(image_detail::read_exif_orientation(jpg, sizeof(jpg), image_detail::Format::kJpeg) == 1);
}

TEST_CASE("resize: identity, constant images and upscaling of tiny images", "[image]") {
  RgbImage img;
  img.width = 7;
  img.height = 3;
  img.rgb.assign(7 * 3 * 3, 77);
  auto same = resize_bicubic(img, 7, 3);
  REQUIRE(same.ok());
  REQUIRE(same->rgb == img.rgb);
  auto up = resize_bicubic(img, 224, 224);  // normalised weights: a constant stays constant
  REQUIRE(up.ok());
  REQUIRE(up->rgb == std::vector<uint8_t>(224 * 224 * 3, 77));
  auto down = resize_bicubic(*up, 3, 2);
  REQUIRE(down.ok());
  REQUIRE(down->rgb == std::vector<uint8_t>(3 * 2 * 3, 77));
  REQUIRE_FALSE(resize_bicubic(img, 0, 5).ok());
  RgbImage broken = img;
  broken.rgb.pop_back();
  REQUIRE(resize_bicubic(broken, 10, 10).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("normalize: channels first, CLIP mean/std, float32 arithmetic", "[image]") {
  RgbImage img;
  img.width = 2;
  img.height = 1;
  img.rgb = {0, 128, 255, 10, 20, 30};
  PreprocessConfig cfg;
  auto out = normalize(img, cfg);
  REQUIRE(out.ok());
  REQUIRE(out->size() == 6);
  const float x = static_cast<float>(255 * 0.00392156862745098);
  REQUIRE((*out)[4] == (x - cfg.mean[2]) / cfg.std[2]);  // channel 2 (B) of pixel 0
  REQUIRE((*out)[1] == (static_cast<float>(10 * 0.00392156862745098) - cfg.mean[0]) / cfg.std[0]);
  cfg.std = {1.f, 0.f, 1.f};
  REQUIRE(normalize(img, cfg).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("rgb_from_rgba drops alpha without compositing", "[image]") {
  const uint8_t rgba[] = {1, 2, 3, 0, 4, 5, 6, 255};
  auto rgb = rgb_from_rgba(rgba, sizeof(rgba), 2, 1);
  REQUIRE(rgb.ok());
  REQUIRE(rgb->rgb == std::vector<uint8_t>{1, 2, 3, 4, 5, 6});
  REQUIRE(rgb_from_rgba(rgba, sizeof(rgba), 3, 1).status().code() == StatusCode::kImageDecode);
  REQUIRE(rgb_from_rgba(rgba, sizeof(rgba), 0, 1).status().code() == StatusCode::kImageDecode);
  REQUIRE(rgb_from_rgba(rgba, sizeof(rgba), 65536, 65536).status().code() == StatusCode::kImageDecode);
}

namespace {

void require_decode_error(const std::vector<uint8_t>& bytes, const std::string& needle, const ImageDecodeOptions& opt = {}) {
  auto r = decode_image(bytes.data(), bytes.size(), opt);
  INFO("status: " << r.status().to_string() << "; expected a message containing '" << needle << "'");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.status().code() == StatusCode::kImageDecode);
  REQUIRE(r.status().message().find(needle) != std::string::npos);
}

void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

// A PNG chunk's length and type (its data and CRC are the caller's).
void put_chunk_header(std::vector<uint8_t>& v, uint32_t length, const char (&type)[5]) {
  put_be32(v, length);
  v.insert(v.end(), type, type + 4);
}

// PNG signature + IHDR of an 8-bit RGB image (CRCs are not checked by the decoder: left 0).
std::vector<uint8_t> png_rgb_header(uint32_t width, uint32_t height) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 13, 10, 26, 10};
  put_chunk_header(png, 13, "IHDR");
  put_be32(png, width);
  put_be32(png, height);
  png.insert(png.end(), {8, 2, 0, 0, 0});
  put_be32(png, 0);
  return png;
}

}  // namespace

TEST_CASE("empty, garbage and unknown bytes are kImageDecode errors", "[image]") {
  require_decode_error({}, "empty");
  REQUIRE(decode_image(nullptr, 0).status().code() == StatusCode::kImageDecode);
  std::vector<uint8_t> garbage(4096);
  uint32_t s = 12345;
  for (auto& b : garbage) b = static_cast<uint8_t>((s = s * 1103515245u + 12345u) >> 24);
  require_decode_error(garbage, "unknown image format");
  require_decode_error(bytes_of("GIF89a"), "GIF truncated");
  // Valid signatures followed by garbage.
  for (std::vector<uint8_t> sig : {std::vector<uint8_t>{0xFF, 0xD8, 0xFF}, std::vector<uint8_t>{0x89, 'P', 'N', 'G', 13, 10, 26, 10},
                                   std::vector<uint8_t>{'B', 'M'}, std::vector<uint8_t>{'G', 'I', 'F', '8', '9', 'a'}}) {
    std::vector<uint8_t> v = sig;
    v.insert(v.end(), garbage.begin(), garbage.end());
    auto r = decode_image(v.data(), v.size());
    INFO("signature-led garbage gave: " << r.status().to_string());
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.status().code() == StatusCode::kImageDecode);
  }
}

TEST_CASE("headers claiming huge dimensions are rejected before decoding", "[image]") {
  // PNG 100000 x 100000 RGB (IHDR only; the cap must trip before any IDAT is needed).
  const std::vector<uint8_t> png = png_rgb_header(100000, 100000);
  require_decode_error(png, "more than the limit");
  require_decode_error(png, "100000x100000");
  // Baseline JPEG 65500 x 65500 (the JPEG maximum): SOI, SOF0, SOS.
  const std::vector<uint8_t> jpg = {0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0xFF, 0xDC, 0xFF, 0xDC, 3, 1, 0x22, 0, 2, 0x11, 0, 3,
                                    0x11, 0, 0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0, 0, 0, 0, 0, 0};
  require_decode_error(jpg, "more than the limit");
  // GIF 65535 x 65535 and BMP 100000 x 100000.
  std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x3B};
  require_decode_error(gif, "more than the limit");
  // A 2x2 GIF screen whose first frame claims 65535 x 65535.
  const std::vector<uint8_t> gif_frame = {'G', 'I', 'F', '8', '9', 'a', 2, 0, 2, 0, 0, 0, 0,
                                          0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 2, 1, 0, 0, 0x3B};
  require_decode_error(gif_frame, "GIF frame is 65535x65535");
  std::vector<uint8_t> bmp = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 0xA0, 0x86, 0x01, 0, 0xA0, 0x86,
                              0x01, 0, 1, 0, 24, 0, 0, 0, 0, 0};
  bmp.resize(64, 0);
  require_decode_error(bmp, "more than the limit");
  // A configurable cap: a 512x512 golden JPEG fails with max_pixels = 1000 and says so.
  if (!golden_dir().empty()) {
    ImageDecodeOptions small;
    small.max_pixels = 1000;
    require_decode_error(bytes_of(read_file(images_dir() + "files/astronaut_baseline.jpg")), "limit of 1000", small);
    require_decode_error(bytes_of(read_file(images_dir() + "files/coffee_rgb.png")), "limit of 1000", small);
  }
  // Zero width.
  std::vector<uint8_t> zero = {'G', 'I', 'F', '8', '9', 'a', 0, 0, 5, 0, 0, 0, 0, 0x3B};
  require_decode_error(zero, "zero width or height");
}

TEST_CASE("a PNG chunk declaring more bytes than the file holds is rejected before any buffer grows", "[image]") {
  // 2x2 RGB, an IDAT of 2 bytes, then one that claims 1 GiB but carries 4: stb_image used to
  // double its IDAT buffer to 2 GiB before noticing (found by fuzzing).
  std::vector<uint8_t> png = png_rgb_header(2, 2);
  for (uint32_t len : {2u, 0x40000000u}) {
    put_chunk_header(png, len, "IDAT");
    png.insert(png.end(), {0x78, 0x9C});
    put_be32(png, 0);  // CRC
  }
  require_decode_error(png, "chunk 'IDAT' at byte 47 declares 1073741824 bytes of data (+4 of CRC), 6 follow its header");
  // A non-printable chunk type is shown with '?' in place of each odd byte.
  png[51] = 0x01;
  require_decode_error(png, "chunk '?DAT'");
  // A chunk header cut short at the end of the file (an empty IDAT without its CRC here) is
  // truncated too: stb_image read it as an empty IDAT and memcpy'd to a null buffer.
  png.resize(33);
  put_chunk_header(png, 0, "IDAT");
  require_decode_error(png, "PNG truncated: 8 bytes at byte 33");
  // Bytes after IEND are not chunks: a PNG followed by junk still decodes.
  if (!golden_dir().empty()) {
    std::vector<uint8_t> ok = bytes_of(read_file(images_dir() + "files/coffee_rgb.png"));
    const size_t n = ok.size();
    ok.insert(ok.end(), {0, 0, 0, 0xFF, 'J', 'U', 'N', 'K', 1, 2, 3});
    auto r = decode_image(ok.data(), ok.size());
    INFO(r.status().to_string());
    REQUIRE(r.ok());
    auto ref = decode_image(ok.data(), n);
    REQUIRE(ref.ok());
    REQUIRE(r->rgb == ref->rgb);
  }
}

TEST_CASE("every golden file truncated at several points fails cleanly", "[image]") {
  MBLIP_REQUIRE_GOLDEN();
  const auto manifest = mblip_test::read_json(images_dir() + "manifest.json");
  for (const auto& img : manifest["images"]) {
    const auto file = bytes_of(read_file(images_dir() + img["file"].get<std::string>()));
    for (double frac : {0.0, 0.01, 0.1, 0.33, 0.5, 0.9, 0.99}) {
      // At least the last 16 bytes go (PNG IEND + CRC, JPEG EOI, GIF trailer), so data is missing.
      size_t cut = std::min(static_cast<size_t>(file.size() * frac), file.size() - 16);
      if (cut < 1) cut = 1;
      const std::vector<uint8_t> part(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut));
      auto r = decode_image(part.data(), part.size());
      INFO(img["name"].get<std::string>() << " cut at " << cut << " of " << file.size() << ": "
                                          << r.status().to_string());
      REQUIRE_FALSE(r.ok());
      REQUIRE(r.status().code() == StatusCode::kImageDecode);
      REQUIRE_FALSE(r.status().message().empty());
    }
    // Flipped bytes in the middle: decoding may succeed (JPEG is error tolerant) but must not crash.
    std::vector<uint8_t> corrupt = file;
    for (size_t i = corrupt.size() / 2; i < corrupt.size() && i < corrupt.size() / 2 + 64; ++i) corrupt[i] ^= 0x5A;
    auto r = decode_image(corrupt.data(), corrupt.size());
    if (!r.ok()) REQUIRE(r.status().code() == StatusCode::kImageDecode);
  }
}

TEST_CASE("GIF: transparent index keeps its palette colour, undrawn canvas gets the transparency index", "[image]") {
  // 4x1 screen, 4-entry palette, GCE transparency index 1, a 3x1 frame with indices [1, 1, 2]
  // (LZW, min code size 2: clear, 1, 1, 2, end -> 0x4C 0x54). Pillow 9.4 gives P pixels
  // [1, 1, 2, 1] (canvas filled with the transparency index) and convert("RGB") the palette colours.
  const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 4, 0, 1, 0, 0x81, 0, 0,
                                    10, 20, 30, 40, 50, 60, 70, 80, 90, 0, 0, 0,
                                    0x21, 0xF9, 4, 0x01, 0, 0, 1, 0,
                                    0x2C, 0, 0, 0, 0, 3, 0, 1, 0, 0,
                                    2, 2, 0x4C, 0x54, 0, 0x3B};
  auto r = decode_image(gif.data(), gif.size());
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  REQUIRE(r->width == 4);
  REQUIRE(r->height == 1);
  REQUIRE(r->rgb == std::vector<uint8_t>{40, 50, 60, 40, 50, 60, 70, 80, 90, 40, 50, 60});
  // Without the data sub-blocks the file is truncated.
  std::vector<uint8_t> cut(gif.begin(), gif.end() - 5);
  require_decode_error(cut, "GIF truncated");
}
