// Test helpers (see golden.h).
#include "support/golden.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mblip_test {

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string golden_dir() {
  const char* env = std::getenv("MBLIP_GOLDEN_DIR");
  std::string dir = env && *env ? env : MBLIP_GOLDEN_DIR_DEFAULT;
  return file_exists(dir + "/README.md") ? dir : std::string();
}

std::string tmp_dir() {
  const char* env = std::getenv("MBLIP_TEST_TMP");
  std::string dir = env && *env ? env : MBLIP_TEST_TMP_DEFAULT;
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(std::rand());
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename to " + path);
}

int64_t Npy::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Npy load_npy(const std::string& path) {
  std::string b = read_file(path);
  if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY", 6) != 0) throw std::runtime_error("not npy: " + path);
  int major = static_cast<uint8_t>(b[6]);
  size_t hlen, hoff;
  if (major == 1) {
    hlen = static_cast<uint8_t>(b[8]) | (static_cast<uint8_t>(b[9]) << 8);
    hoff = 10;
  } else {
    hlen = 0;
    for (int i = 0; i < 4; ++i) hlen |= static_cast<size_t>(static_cast<uint8_t>(b[8 + i])) << (8 * i);
    hoff = 12;
  }
  std::string header = b.substr(hoff, hlen);
  Npy out;
  auto field = [&](const char* key) {
    auto p = header.find(key);
    if (p == std::string::npos) throw std::runtime_error("npy header lacks " + std::string(key));
    return p + std::strlen(key);
  };
  size_t p = field("'descr':");
  size_t q1 = header.find('\'', p), q2 = header.find('\'', q1 + 1);
  out.dtype = header.substr(q1 + 1, q2 - q1 - 1);
  if (header.find("'fortran_order': True") != std::string::npos) throw std::runtime_error("fortran npy");
  p = field("'shape':");
  size_t l = header.find('(', p), r = header.find(')', l);
  std::string dims = header.substr(l + 1, r - l - 1);
  std::stringstream ss(dims);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.find_first_not_of(" ") == std::string::npos) continue;
    out.shape.push_back(std::stoll(tok));
  }
  out.raw.assign(b.begin() + static_cast<std::ptrdiff_t>(hoff + hlen), b.end());
  return out;
}

std::vector<float> Npy::as_float() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  if (dtype == "<f4") {
    std::memcpy(v.data(), raw.data(), v.size() * 4);
  } else if (dtype == "<f8") {
    for (size_t i = 0; i < v.size(); ++i) {
      double d;
      std::memcpy(&d, raw.data() + 8 * i, 8);
      v[i] = static_cast<float>(d);
    }
  } else {
    throw std::runtime_error("npy dtype not float: " + dtype);
  }
  return v;
}

std::vector<int64_t> Npy::as_int64() const {
  std::vector<int64_t> v(static_cast<size_t>(numel()));
  if (dtype == "<i8") {
    std::memcpy(v.data(), raw.data(), v.size() * 8);
  } else if (dtype == "<i4") {
    for (size_t i = 0; i < v.size(); ++i) {
      int32_t x;
      std::memcpy(&x, raw.data() + 4 * i, 4);
      v[i] = x;
    }
  } else {
    throw std::runtime_error("npy dtype not int: " + dtype);
  }
  return v;
}

std::vector<uint8_t> Npy::as_u8() const {
  if (dtype != "|u1") throw std::runtime_error("npy dtype not u8: " + dtype);
  return raw;
}

double max_abs_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

double max_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double ref = 1e-30;
  for (float x : b) ref = std::fmax(ref, std::fabs(double(x)));
  return max_abs_error(a, b) / ref;
}

double cosine_similarity(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return -2;
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(std::fmax(aa * bb, 1e-300));
}

}  // namespace mblip_test
