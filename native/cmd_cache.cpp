// `mblip cache list|clear`: the packed-weights cache files (mblip/cache.h),
// and the terminal progress line the model-loading commands show for loads over a second.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "cli_common.h"
#include "mblip/cache.h"
#include "mblip/mblip.h"

namespace mblip_cli {

// "loading model: 42%" on stderr (a terminal only), from the first report after 1 s; cleared at 1.
std::function<void(double)> terminal_load_progress() {
  if (!::isatty(2)) return nullptr;
  const auto start = std::chrono::steady_clock::now();
  auto shown = std::make_shared<int>(-1);
  return [start, shown](double f) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (f >= 1.0) {
      if (*shown >= 0) std::fprintf(stderr, "\r%-40s\r", "");
      return;
    }
    const int pct = static_cast<int>(f * 100);
    if (s < 1.0 || pct == *shown) return;
    *shown = pct;
    std::fprintf(stderr, "\rloading model: %3d%%", pct);
    std::fflush(stderr);
  };
}

int cmd_cache(Args& args) {
  const char* help =
      "Usage: mblip cache list|clear [--dir DIR]\n"
      "The packed-weights cache: later loads of a model map its packed weights instead of\n"
      "repacking them. Folder: --dir, else $MBLIP_CACHE_DIR, else $XDG_CACHE_HOME/mblip/packed,\n"
      "else ~/.cache/mblip/packed. 'caption'/'ask' --no-cache neither read nor write it.\n"
      "  list    one line per cache file: size, entries, model file (or 'invalid')\n"
      "  clear   remove every cache file\n";
  std::string action, dir;
  while (!args.done()) {
    if (args.peek() == "--help" || args.peek() == "-h") {
      std::cout << help;
      return kExitOk;
    }
    if (args.option({"--dir"}, &dir)) {
      if (!args.error().empty()) return fail("cache", args.error(), kExitUsage);
    } else if (action.empty() && (args.peek() == "list" || args.peek() == "clear")) {
      action = args.next();
    } else {
      return fail("cache", "unexpected argument '" + args.peek() + "'", kExitUsage);
    }
  }
  if (action.empty()) return fail("cache", "expected 'list' or 'clear'", kExitUsage);
  dir = mblip::weight_cache_dir(dir);
  if (dir.empty()) return fail("cache", "no cache folder (set MBLIP_CACHE_DIR or HOME)");
  if (action == "list") {
    uint64_t total = 0;
    for (const mblip::WeightCacheFile& f : mblip::list_weight_cache(dir)) {
      total += f.bytes;
      std::printf("%10.1f MB  %6llu entries  %s  %s\n", static_cast<double>(f.bytes) / 1e6,
                  static_cast<unsigned long long>(f.entries), f.valid ? f.model.c_str() : "(invalid)",
                  f.path.c_str());
    }
    std::printf("%10.1f MB  total in %s\n", static_cast<double>(total) / 1e6, dir.c_str());
    return kExitOk;
  }
  auto removed = mblip::clear_weight_cache(dir);
  if (!removed.ok()) return fail("cache", removed.status());
  std::printf("removed %d file%s from %s\n", removed.value(), removed.value() == 1 ? "" : "s", dir.c_str());
  return kExitOk;
}

}  // namespace mblip_cli
