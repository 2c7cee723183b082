// Packed-weights cache files (kernels/weight_cache.h): header format, checksums, the key of the
// packing environment (XNNPACK version, target, CPU features), the cache folder, list and clear.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#if defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
#include <sys/auxv.h>
#endif

#include "kernels/weight_cache.h"
#if defined(__wasm_relaxed_simd__)
#include "kernels/q4_0.h"  // wasm_relaxed_dot_kind
#endif

namespace mblip {
namespace {

constexpr char kMagic[8] = {'M', 'B', 'L', 'P', 'A', 'C', 'K', '1'};
// The XNNPACK commit the build uses (cmake/Xnnpack.cmake MBLIP_XNN_VERSION): its packing layout.
constexpr const char* kXnnpackVersion = "4ea82e5";

void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

std::string hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// Header layout: magic[8] format u64 file_bytes u64 index_offset u64 index_bytes u64
// index_checksum u64 entry_count u64 key_len u64 label_len u64 | key | label ... | checksum u64
// of the first kPackedCacheHeaderBytes - 8 bytes at the very end.
constexpr size_t kFixed = 8 + 8 * 8;

#if defined(__x86_64__) && defined(__GNUC__)
// The lane sums of packed_checksum over whole 32-byte words with AVX2 (the build's baseline is
// SSE2; a warm load checks every byte of a 3 GB file): the same integer sums, so the same value.
__attribute__((target("avx2"))) size_t checksum_lanes_avx2(const uint8_t* p, size_t n, uint64_t* a, uint64_t* b) {
  __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 4));
  __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 4));
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    a0 = _mm256_add_epi64(a0, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(w)));  // lanes 0..3
    a1 = _mm256_add_epi64(a1, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(w, 1)));  // lanes 4..7
    b0 = _mm256_add_epi64(b0, a0);
    b1 = _mm256_add_epi64(b1, a1);
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(a), a0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(a + 4), a1);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(b), b0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(b + 4), b1);
  return i;
}
#endif

}  // namespace

uint64_t packed_checksum(const uint8_t* p, size_t n) {
  uint64_t a[8] = {0}, b[8] = {0};
  size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) i = checksum_lanes_avx2(p, n, a, b);
#endif
  for (; i + 32 <= n; i += 32) {
    uint32_t w[8];
    std::memcpy(w, p + i, 32);
    for (int l = 0; l < 8; ++l) {
      a[l] += w[l];
      b[l] += a[l];
    }
  }
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
  for (int l = 0; l < 8; ++l) {
    h = (h ^ a[l]) * 0xff51afd7ed558ccdull;
    h = (h ^ b[l]) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
  }
  return h;
}

uint64_t hash_bytes(const void* p, size_t n, uint64_t h) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001B3ull;
  return h;
}

std::string packed_cache_environment_key() {
  std::string k = std::string("xnnpack=") + kXnnpackVersion + ";format=" + std::to_string(kPackedCacheFormat) +
                  ";mblip=" MBLIP_VERSION ";ptr=" + std::to_string(sizeof(void*) * 8);
#ifdef __VERSION__
  k += ";cc=" + hex64(hash_bytes(__VERSION__, std::strlen(__VERSION__)));
#endif
  uint64_t cpu = 1469598103934665603ull;
#if defined(__x86_64__) || defined(__i386__)
  // Feature leaves XNNPACK's cpuinfo-based dispatch reads (SSE..AVX-512, VNNI, GFNI, AMX ...),
  // plus the OS-enabled register state (XCR0). The vendor is included (different tunings).
  unsigned r[4];
  const unsigned leaves[][2] = {{0, 0}, {1, 0}, {7, 0}, {7, 1}, {0x80000001u, 0}, {0x19, 0}};
  for (const auto& l : leaves) {
    if (__get_cpuid_count(l[0], l[1], &r[0], &r[1], &r[2], &r[3])) {
      if (l[0] == 1) r[1] &= 0x00FFFFFFu, r[0] &= 0x0FFF3FF0u;  // APIC id; stepping is kept out
      cpu = hash_bytes(r, sizeof r, cpu);
    }
  }
  if (__get_cpuid(1, &r[0], &r[1], &r[2], &r[3]) && (r[2] & (1u << 27))) {  // OSXSAVE
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    cpu = hash_bytes(&lo, sizeof lo, cpu);
  }
  k += ";arch=x86";
#elif defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
  const unsigned long caps[2] = {getauxval(AT_HWCAP), getauxval(AT_HWCAP2)};
  cpu = hash_bytes(caps, sizeof caps, cpu);
  k += ";arch=arm";
#elif defined(__EMSCRIPTEN__)
  // The SIMD variant is the "CPU feature"; in relaxed-SIMD builds XNNPACK picks its int8 kernels (and
  // their packed layouts) by the engine's relaxed dot semantics, and so does make_linear.
#if defined(__wasm_relaxed_simd__)
  k += std::string(";arch=wasm-relaxed-simd-") + wasm_relaxed_dot_kind();
#elif defined(__wasm_simd128__)
  k += ";arch=wasm-simd128";
#else
  k += ";arch=wasm-scalar";
#endif
#else
  k += ";arch=other";
#endif
  return k + ";cpu=" + hex64(cpu);
}

std::string packed_cache_dir(const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  if (const char* e = std::getenv("MBLIP_CACHE_DIR"); e && *e) return e;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/mblip/packed";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/mblip/packed";
  return "";
}

std::string packed_cache_file_for(const std::string& dir, const std::string& model_path) {
  char* real = ::realpath(model_path.c_str(), nullptr);
  const std::string full = real ? real : model_path;
  std::free(real);
  std::string base = full.substr(full.find_last_of('/') == std::string::npos ? 0 : full.find_last_of('/') + 1);
  for (char& c : base)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  if (base.size() > 80) base.resize(80);
  return dir + "/" + base + "." + hex64(hash_bytes(full.data(), full.size())).substr(0, 12) + ".mbpack";
}

bool encode_packed_header(const PackedCacheHeader& h, uint8_t* out) {
  if (kFixed + h.key.size() + h.label.size() + 8 > kPackedCacheHeaderBytes) return false;
  std::memset(out, 0, kPackedCacheHeaderBytes);
  std::memcpy(out, kMagic, 8);
  const uint64_t f[8] = {kPackedCacheFormat, h.file_bytes, h.index_offset, h.index_bytes, h.index_checksum,
                         h.entry_count, h.key.size(), h.label.size()};
  for (int i = 0; i < 8; ++i) put64(out + 8 + 8 * i, f[i]);
  std::memcpy(out + kFixed, h.key.data(), h.key.size());
  std::memcpy(out + kFixed + h.key.size(), h.label.data(), h.label.size());
  put64(out + kPackedCacheHeaderBytes - 8, packed_checksum(out, kPackedCacheHeaderBytes - 8));
  return true;
}

bool decode_packed_header(const uint8_t* p, size_t n, PackedCacheHeader* h, std::string* why) {
  if (n < kPackedCacheHeaderBytes) return *why = "shorter than its header (truncated)", false;
  if (std::memcmp(p, kMagic, 8) != 0) return *why = "not a packed-weights cache file (bad magic)", false;
  if (get64(p + kPackedCacheHeaderBytes - 8) != packed_checksum(p, kPackedCacheHeaderBytes - 8))
    return *why = "header checksum mismatch (corrupt)", false;
  uint64_t f[8];
  for (int i = 0; i < 8; ++i) f[i] = get64(p + 8 + 8 * i);
  if (f[0] != kPackedCacheFormat) return *why = "format version " + std::to_string(f[0]) + ", expected " +
                                              std::to_string(kPackedCacheFormat), false;
  if (f[6] > kPackedCacheHeaderBytes || f[7] > kPackedCacheHeaderBytes || kFixed + f[6] + f[7] + 8 > kPackedCacheHeaderBytes)
    return *why = "header sizes out of range", false;
  h->file_bytes = f[1];
  h->index_offset = f[2];
  h->index_bytes = f[3];
  h->index_checksum = f[4];
  h->entry_count = f[5];
  h->key.assign(reinterpret_cast<const char*>(p + kFixed), f[6]);
  h->label.assign(reinterpret_cast<const char*>(p + kFixed + f[6]), f[7]);
  return true;
}

std::vector<PackedCacheFileInfo> list_packed_cache(const std::string& dir) {
  std::vector<PackedCacheFileInfo> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 7 || name.compare(name.size() - 7, 7, ".mbpack") != 0) continue;
    PackedCacheFileInfo info;
    info.path = dir + "/" + name;
    struct stat st {};
    if (::stat(info.path.c_str(), &st) != 0) continue;
    info.bytes = static_cast<uint64_t>(st.st_size);
    int fd = ::open(info.path.c_str(), O_RDONLY);
    if (fd >= 0) {
      std::vector<uint8_t> head(kPackedCacheHeaderBytes);
      PackedCacheHeader h;
      std::string why;
      if (::pread(fd, head.data(), head.size(), 0) == static_cast<ssize_t>(head.size()) &&
          decode_packed_header(head.data(), head.size(), &h, &why) && h.file_bytes == info.bytes) {
        info.header_ok = true;
        info.label = h.label;
        info.entries = h.entry_count;
      }
      ::close(fd);
    }
    out.push_back(std::move(info));
  }
  ::closedir(d);
  return out;
}

Result<int> clear_packed_cache(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return 0;
    return io_error("cannot open cache folder '" + dir + "': " + std::strerror(errno));
  }
  int removed = 0;
  std::string failed;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const bool ours = name.find(".mbpack") != std::string::npos;  // files and their .tmp.* siblings
    if (!ours) continue;
    const std::string p = dir + "/" + name;
    if (::unlink(p.c_str()) == 0) ++removed;
    else if (failed.empty()) failed = p + ": " + std::strerror(errno);
  }
  ::closedir(d);
  if (!failed.empty()) return io_error("cannot remove " + failed);
  return removed;
}

WeightCacheMapping packed_cache_mapping() {
  WeightCacheMapping m;
#if defined(__linux__) && !defined(__EMSCRIPTEN__)
  FILE* f = std::fopen("/proc/self/smaps", "r");
  if (!f) return m;
  char line[4096];
  bool ours = false;
  while (std::fgets(line, sizeof line, f)) {
    unsigned long long lo = 0, hi = 0, kb = 0;
    char path[4096] = "";
    if (std::sscanf(line, "%llx-%llx %*s %*s %*s %*s %4095s", &lo, &hi, path) >= 2) {  // a mapping's first line
      const size_t n = std::strlen(path);
      ours = n > 7 && std::strcmp(path + n - 7, ".mbpack") == 0;
      if (ours) {
        ++m.files;
        m.mapped_bytes += hi - lo;
        if (lo % kPackedCacheHugePageBytes != 0) m.aligned = false;
      }
    } else if (ours && std::sscanf(line, "FilePmdMapped: %llu kB", &kb) == 1) {
      m.huge_page_bytes += kb * 1024;
    }
  }
  std::fclose(f);
#endif
  return m;
}

}  // namespace mblip
