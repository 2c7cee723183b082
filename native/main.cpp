// mblip CLI entry point: dispatches to the sub-commands (caption, ask, tokenize, detokenize,
// preprocess, info, bench) and holds the shared argument helpers.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cli_common.h"
#include "mblip/mblip.h"

namespace mblip_cli {

bool Args::flag(std::initializer_list<const char*> names) {
  if (done()) return false;
  for (const char* n : names)
    if (a_[i_] == n) {
      ++i_;
      return true;
    }
  return false;
}

bool Args::option(std::initializer_list<const char*> names, std::string* value) {
  if (done()) return false;
  const std::string& cur = a_[i_];
  for (const char* n : names) {
    const std::string name(n);
    if (cur == name) {
      if (i_ + 1 >= a_.size()) {
        err_ = "option " + name + " needs a value";
        value->clear();
        ++i_;
        return true;
      }
      *value = a_[i_ + 1];
      i_ += 2;
      return true;
    }
    if (cur.size() > name.size() + 1 && cur.compare(0, name.size(), name) == 0 && cur[name.size()] == '=') {
      *value = cur.substr(name.size() + 1);
      ++i_;
      return true;
    }
  }
  return false;
}

bool parse_int(const std::string& s, long long lo, long long hi, long long* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == s.c_str() || *end != '\0') return false;
  *out = v;
  return true;
}

int fail(const std::string& cmd, const std::string& message, int code) {
  std::cerr << "mblip " << cmd << ": " << message << "\n";
  if (code == kExitUsage) std::cerr << "Try 'mblip " << cmd << " --help'.\n";
  return code;
}

int fail(const std::string& cmd, const mblip::Status& st) { return fail(cmd, st.to_string(), kExitError); }

int cmd_compare(Args& args);  // cmd_compare.cpp

}  // namespace mblip_cli

namespace mblip_cli {
int cmd_cache(Args& args);  // cmd_cache.cpp
}  // namespace mblip_cli

namespace {

const char* kUsage =
    "mblip " MBLIP_VERSION " - mBLIP / BLIP-2 (T5 family) image captioning and VQA on the CPU\n"
    "\n"
    "Usage: mblip <command> [options]\n"
    "\n"
    "Commands:\n"
    "  caption     caption images          mblip caption -m MODEL.gguf [--lang de] IMAGE...\n"
    "  ask         answer questions        mblip ask -m MODEL.gguf IMAGE -q QUESTION [-q ...]\n"
    "  tokenize    text -> token ids       mblip tokenize -m MODEL.gguf TEXT\n"
    "  detokenize  token ids -> text       mblip detokenize -m MODEL.gguf IDS...\n"
    "  preprocess  image -> pixel values   mblip preprocess -m MODEL.gguf IMAGE --npy OUT.npy\n"
    "  info        describe a model file   mblip info MODEL.gguf [--json]\n"
    "  bench       stage times vs limits   mblip bench -m MODEL.gguf [--threads N] [--json] [IMAGE]\n"
    "  compare     check a recipe          mblip compare -m TEST.gguf --reference REF.gguf IMAGE...\n"
    "  languages   list the 96 languages\n"
    "  cache       packed-weights cache    mblip cache list|clear\n"
    "\n"
    "Run 'mblip <command> --help' for the options of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace mblip_cli;
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string cmd = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  Args args(rest);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  if (cmd == "--version") {
    std::cout << "mblip " << mblip::version() << "\n";
    return kExitOk;
  }
  if (cmd == "caption" || cmd == "ask") return cmd_caption(cmd, args);
  if (cmd == "tokenize") return cmd_tokenize(args);
  if (cmd == "detokenize") return cmd_detokenize(args);
  if (cmd == "preprocess") return cmd_preprocess(args);
  if (cmd == "info") return cmd_info(args);
  if (cmd == "bench") return cmd_bench(args);
  if (cmd == "cache") return cmd_cache(args);
  if (cmd == "compare") return cmd_compare(args);  // cmd_compare.cpp
  if (cmd == "languages") {
    if (!args.done() && (args.peek() == "--help" || args.peek() == "-h")) {
      std::cout << "Usage: mblip languages\nLists mBLIP's 96 languages: code and English name.\n";
      return kExitOk;
    }
    for (const auto& l : mblip::mblip_languages()) std::cout << l.code << "\t" << l.name << "\n";
    return kExitOk;
  }
  std::cerr << "mblip: unknown command '" << cmd << "'\n\n" << kUsage;
  return kExitUsage;
}
