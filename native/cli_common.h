// Shared helpers of the mblip CLI: a tiny argument parser, error printing and exit codes.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "mblip/status.h"

namespace mblip_cli {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // runtime failure (bad model, bad image, ...)
constexpr int kExitUsage = 2;  // bad command line

// Arguments after the sub-command. Options take their value from the next argument
// (`--beams 5`) or after '=' (`--beams=5`).
class Args {
 public:
  explicit Args(std::vector<std::string> a) : a_(std::move(a)) {}
  bool done() const { return i_ >= a_.size(); }
  const std::string& peek() const { return a_[i_]; }
  std::string next() { return a_[i_++]; }
  // If the current argument is one of the names, consumes it (and its value) and returns true.
  bool flag(std::initializer_list<const char*> names);
  bool option(std::initializer_list<const char*> names, std::string* value);
  const std::string& error() const { return err_; }

 private:
  std::vector<std::string> a_;
  size_t i_ = 0;
  std::string err_;
};

bool parse_int(const std::string& s, long long lo, long long hi, long long* out);
bool parse_double(const std::string& s, double* out);

// Prints "mblip <cmd>: <message>" to stderr and returns `code`.
int fail(const std::string& cmd, const std::string& message, int code = kExitError);
int fail(const std::string& cmd, const mblip::Status& st);

int cmd_caption(const std::string& name, Args& args);  // "caption" and "ask"
int cmd_tokenize(Args& args);
int cmd_detokenize(Args& args);
int cmd_preprocess(Args& args);
int cmd_info(Args& args);
int cmd_bench(Args& args);  // cmd_bench.cpp

}  // namespace mblip_cli
