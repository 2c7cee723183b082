// JPEG decoding with libjpeg-turbo 2.1.5, configured as Pillow 9.4's JpegDecode (ISLOW IDCT,
// fancy upsampling, RGB out for YCbCr/gray, CMYK read as Adobe-inverted "CMYK;I" then Pillow's
// cmyk2rgb). Errors longjmp back here (never exit()); a premature end of data is an error.
#include "image/image.h"

#ifdef MBLIP_HAVE_LIBJPEG
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <new>
#include <string>

#include <jpeglib.h>
#include <jerror.h>
#endif

namespace mblip {
namespace image_detail {

#ifndef MBLIP_HAVE_LIBJPEG

bool have_libjpeg() { return false; }
Status jpeg_probe(const uint8_t*, size_t, int*, int*) { return unsupported("built without libjpeg"); }
Result<RgbImage> jpeg_decode(const uint8_t*, size_t, int64_t) { return unsupported("built without libjpeg"); }

#else

bool have_libjpeg() { return true; }

namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

extern "C" void mblip_jpeg_error_exit(j_common_ptr cinfo) {
  ErrorMgr* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level < 0) are counted; "premature end of data" marks the image truncated (Pillow
// raises "image file is truncated" there). Trace messages are dropped. Nothing is printed.
extern "C" void mblip_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
  ErrorMgr* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  if (msg_level < 0) {
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) err->truncated = true;
    cinfo->err->num_warnings++;
  }
}

extern "C" void mblip_jpeg_output_message(j_common_ptr) {}

// Everything the setjmp-protected function touches lives here (in the caller's frame), so no
// C++ object with a destructor is skipped by longjmp and no local is read after it.
struct Job {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  bool created = false;
  bool header_only = false;
  int64_t max_pixels = 0;
  int width = 0, height = 0, components = 0;
  bool too_large = false, alloc_failed = false;
  std::vector<uint8_t> raw;  // output_components per pixel
};

// Returns 0 on success, 1 when libjpeg raised an error (message in job->err.message).
int run_job(Job* job, const uint8_t* data, size_t size) {
  job->cinfo.err = jpeg_std_error(&job->err.pub);
  job->err.pub.error_exit = mblip_jpeg_error_exit;
  job->err.pub.emit_message = mblip_jpeg_emit_message;
  job->err.pub.output_message = mblip_jpeg_output_message;
  job->err.message[0] = '\0';
  job->err.truncated = false;
  if (setjmp(job->err.jump)) return 1;
  jpeg_create_decompress(&job->cinfo);
  job->created = true;
  jpeg_mem_src(&job->cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&job->cinfo, TRUE);
  job->width = static_cast<int>(job->cinfo.image_width);
  job->height = static_cast<int>(job->cinfo.image_height);
  if (job->header_only) return 0;
  if (static_cast<int64_t>(job->width) * job->height > job->max_pixels) {
    job->too_large = true;
    return 0;
  }
  // Pillow: 1 component -> "L", 3 -> "RGB", 4 -> "CMYK" (rawmode "CMYK;I").
  switch (job->cinfo.num_components) {
    case 1: job->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case 4: job->cinfo.out_color_space = JCS_CMYK; break;
    default: job->cinfo.out_color_space = JCS_RGB; break;
  }
  job->cinfo.dct_method = JDCT_ISLOW;
  job->cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&job->cinfo);
  job->components = job->cinfo.output_components;
  const size_t row = static_cast<size_t>(job->cinfo.output_width) * job->components;
  try {
    job->raw.resize(row * job->cinfo.output_height);
  } catch (const std::bad_alloc&) {
    job->alloc_failed = true;
    return 0;
  }
  while (job->cinfo.output_scanline < job->cinfo.output_height) {
    JSAMPROW rows[1] = {job->raw.data() + row * job->cinfo.output_scanline};
    jpeg_read_scanlines(&job->cinfo, rows, 1);
  }
  jpeg_finish_decompress(&job->cinfo);
  return 0;
}

struct JobGuard {
  Job* job;
  ~JobGuard() {
    if (job->created) jpeg_destroy_decompress(&job->cinfo);
  }
};

// Pillow's MULDIV255: a * b / 255 rounded, exact for 0..255 operands.
inline int muldiv255(int a, int b) {
  const int tmp = a * b + 128;
  return ((tmp >> 8) + tmp) >> 8;
}

inline uint8_t clip8(int v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

}  // namespace

Status jpeg_probe(const uint8_t* data, size_t size, int* width, int* height) {
  Job job;
  JobGuard guard{&job};
  job.header_only = true;
  if (run_job(&job, data, size) != 0) {
    return image_decode_error(std::string("JPEG header unreadable: ") + job.err.message);
  }
  *width = job.width;
  *height = job.height;
  return Status::Ok();
}

// PIL.JpegImagePlugin + JpegDecode.c, then Image.convert("RGB") (Convert.c l2rgb / cmyk2rgb).
Result<RgbImage> jpeg_decode(const uint8_t* data, size_t size, int64_t max_pixels) {
  Job job;
  JobGuard guard{&job};
  job.max_pixels = max_pixels;
  if (run_job(&job, data, size) != 0) {
    return image_decode_error(std::string("JPEG data corrupt: ") + job.err.message);
  }
  if (job.too_large) {
    return image_decode_error("JPEG is " + std::to_string(job.width) + "x" + std::to_string(job.height) +
                              ", more than the limit of " + std::to_string(max_pixels) + " pixels");
  }
  if (job.alloc_failed) return out_of_memory("JPEG: cannot allocate the decoded image");
  if (job.err.truncated) return image_decode_error("JPEG truncated: premature end of data");
  RgbImage out;
  out.width = static_cast<int>(job.cinfo.output_width);
  out.height = static_cast<int>(job.cinfo.output_height);
  const size_t n = static_cast<size_t>(out.width) * out.height;
  if (job.components == 3) {
    out.rgb = std::move(job.raw);
  } else if (job.components == 1) {
    out.rgb.resize(n * 3);
    for (size_t i = 0; i < n; ++i) out.rgb[3 * i] = out.rgb[3 * i + 1] = out.rgb[3 * i + 2] = job.raw[i];
  } else if (job.components == 4) {
    out.rgb.resize(n * 3);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* p = &job.raw[4 * i];
      const int nk = p[3];  // 255 - K with K = 255 - raw (inverted Adobe CMYK)
      for (int c = 0; c < 3; ++c) out.rgb[3 * i + c] = clip8(nk - muldiv255(255 - p[c], nk));
    }
  } else {
    return image_decode_error("JPEG has an unsupported number of colour components: " +
                              std::to_string(job.components));
  }
  return out;
}

#endif  // MBLIP_HAVE_LIBJPEG

}  // namespace image_detail
}  // namespace mblip
