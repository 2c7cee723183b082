// golden_gguf: convert a golden checkpoint once, atomically (see models.h).
#include "support/models.h"

#include <sys/stat.h>
#include <unistd.h>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#endif

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

#include "convert/convert.h"
#include "support/golden.h"

namespace mblip_test {

namespace {

// The file whose age decides whether a cached conversion is fresh: this test binary natively,
// the .wasm beside the .js node runs (NODERAWFS shows the host filesystem), "" when unknown.
std::string binary_path() {
#ifdef __EMSCRIPTEN__
  char* p = reinterpret_cast<char*>(MAIN_THREAD_EM_ASM_INT({
    var s = (typeof process === 'object' && process.argv && process.argv[1]) ? String(process.argv[1]) : '';
    return allocateUTF8(s.replace(/\.js$/, '.wasm'));
  }));
  if (!p) return "";
  std::string s(p);
  std::free(p);
  return s;
#else
  return "/proc/self/exe";
#endif
}

}  // namespace

bool newer_than_binary(const std::string& path) {
  static const std::string exe_path = binary_path();
  struct stat out, exe;
  if (exe_path.empty() || ::stat(path.c_str(), &out) != 0 || ::stat(exe_path.c_str(), &exe) != 0) return false;
  return out.st_mtime > exe.st_mtime;
}

std::string golden_gguf(const std::string& model, const std::string& weights) {
  static std::mutex mu;
  static std::set<std::string> done;  // per process: converted or verified fresh
  std::lock_guard<std::mutex> lock(mu);
  const std::string out = tmp_dir() + "/" + model + "-" + weights + ".gguf";
  if (done.count(out) || newer_than_binary(out)) {
    done.insert(out);
    return out;
  }
  auto type = mblip::dtype_from_name(weights);
  if (!type.ok()) throw std::runtime_error(type.status().to_string());
  std::random_device rd;
  const std::string unique = out + "." + std::to_string(::getpid()) + "." + std::to_string(rd()) + "." +
                             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  mblip::ConvertOptions o;
  o.input_dir = golden_dir() + "/models/" + model;
  o.output_path = unique;
  o.weights = type.value();
  mblip::Status st = mblip::convert_checkpoint(o);
  if (!st.ok()) throw std::runtime_error("golden_gguf(" + model + ", " + weights + "): " + st.to_string());
  if (std::rename(unique.c_str(), out.c_str()) != 0) {
    std::remove(unique.c_str());
    throw std::runtime_error("golden_gguf: cannot rename to " + out);
  }
  done.insert(out);
  return out;
}

}  // namespace mblip_test
