// Task policy (mblip.h "Tasks"): prompt templates, the authors' defaults, generation options by
// name (parsed and validated here only), and plan_task(), which every frontend calls.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "mblip/mblip.h"

namespace mblip {
namespace {

bool finite_positive(double x) { return std::isfinite(x) && x > 0.0; }

// Whole-string integer in [lo, hi].
bool parse_int(const std::string& s, long long lo, long long hi, long long* out) {
  if (s.empty() || s.size() > 24) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parse_number(const std::string& s, double* out) {
  if (s.empty() || s.size() > 64) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool parse_bool(const std::string& s, bool* out) {
  if (s == "true" || s == "1") return *out = true, true;
  if (s == "false" || s == "0") return *out = false, true;
  return false;
}

enum class Kind { kInt, kUint, kNumber, kBool, kEarly };

struct OptionSpec {
  const char* name;   // snake_case (C++ field, CLI)
  const char* camel;  // camelCase (JS)
  Kind kind;
  void (*set)(GenerateOptions&, long long, double, bool);
};

// GenerateOptions' fields by name: the one table every frontend's options go through.
const OptionSpec kOptions[] = {
    {"max_new_tokens", "maxNewTokens", Kind::kInt, [](GenerateOptions& g, long long i, double, bool) { g.max_new_tokens = static_cast<int>(i); }},
    {"min_new_tokens", "minNewTokens", Kind::kInt, [](GenerateOptions& g, long long i, double, bool) { g.min_new_tokens = static_cast<int>(i); }},
    {"num_beams", "numBeams", Kind::kInt, [](GenerateOptions& g, long long i, double, bool) { g.num_beams = static_cast<int>(i); }},
    {"num_return_sequences", "numReturnSequences", Kind::kInt, [](GenerateOptions& g, long long i, double, bool) { g.num_return_sequences = static_cast<int>(i); }},
    {"length_penalty", "lengthPenalty", Kind::kNumber, [](GenerateOptions& g, long long, double x, bool) { g.length_penalty = x; }},
    {"early_stopping", "earlyStopping", Kind::kEarly, nullptr},
    {"do_sample", "doSample", Kind::kBool, [](GenerateOptions& g, long long, double, bool b) { g.do_sample = b; }},
    {"temperature", "temperature", Kind::kNumber, [](GenerateOptions& g, long long, double x, bool) { g.temperature = x; }},
    {"top_k", "topK", Kind::kInt, [](GenerateOptions& g, long long i, double, bool) { g.top_k = static_cast<int>(i); }},
    {"top_p", "topP", Kind::kNumber, [](GenerateOptions& g, long long, double x, bool) { g.top_p = x; }},
    {"seed", "seed", Kind::kUint, [](GenerateOptions& g, long long i, double, bool) { g.seed = static_cast<uint64_t>(i); }},
    {"repetition_penalty", "repetitionPenalty", Kind::kNumber, [](GenerateOptions& g, long long, double x, bool) { g.repetition_penalty = x; }},
    {"no_repeat_ngram_size", "noRepeatNgramSize", Kind::kInt, [](GenerateOptions& g, long long i, double, bool) { g.no_repeat_ngram_size = static_cast<int>(i); }},
};

const OptionSpec* find_option(const std::string& name) {
  for (const OptionSpec& o : kOptions)
    if (name == o.name || name == o.camel) return &o;
  return nullptr;
}

Status apply_option(const OptionSpec& spec, const std::string& v, GenerateOptions& g) {
  const std::string n = spec.name;
  long long i = 0;
  double x = 0;
  bool b = false;
  switch (spec.kind) {
    case Kind::kInt:
      // Range checks beyond int are validate_generate_options' job (one message per rule).
      if (!parse_int(v, -(1LL << 31), (1LL << 31) - 1, &i)) return invalid_argument(n + " must be an integer, got '" + v + "'");
      break;
    case Kind::kUint:
      if (!parse_int(v, 0, (1LL << 53), &i)) return invalid_argument(n + " must be a non-negative integer, got '" + v + "'");
      break;
    case Kind::kNumber:
      if (!parse_number(v, &x)) return invalid_argument(n + " must be a finite number, got '" + v + "'");
      break;
    case Kind::kBool:
      if (!parse_bool(v, &b)) return invalid_argument(n + " must be true or false, got '" + v + "'");
      break;
    case Kind::kEarly:
      if (v == "never") {
        g.early_stopping = EarlyStopping::kNever;
      } else if (parse_bool(v, &b)) {
        g.early_stopping = b ? EarlyStopping::kTrue : EarlyStopping::kFalse;
      } else {
        return invalid_argument(n + " must be true, false or never, got '" + v + "'");
      }
      return Status::Ok();
  }
  spec.set(g, i, x, b);
  return Status::Ok();
}

}  // namespace

Status api::validate_generate_options(const GenerateOptions& o) {
  auto bad = [](const std::string& m) { return invalid_argument(m); };
  if (o.max_new_tokens < 1 || o.max_new_tokens > kMaxNewTokensLimit)
    return bad("max_new_tokens must be in 1.." + std::to_string(kMaxNewTokensLimit) + ", got " +
               std::to_string(o.max_new_tokens));
  if (o.min_new_tokens < 0 || o.min_new_tokens > o.max_new_tokens)
    return bad("min_new_tokens must be in 0..max_new_tokens (" + std::to_string(o.max_new_tokens) +
               "), got " + std::to_string(o.min_new_tokens));
  if (o.num_beams < 1 || o.num_beams > kMaxBeams)
    return bad("num_beams must be in 1.." + std::to_string(kMaxBeams) + ", got " + std::to_string(o.num_beams));
  if (o.num_return_sequences < 1)
    return bad("num_return_sequences must be >= 1, got " + std::to_string(o.num_return_sequences));
  if (o.num_beams > 1 && o.num_return_sequences > o.num_beams)
    return bad("num_return_sequences (" + std::to_string(o.num_return_sequences) +
               ") must not exceed num_beams (" + std::to_string(o.num_beams) + ")");
  if (o.num_beams == 1 && !o.do_sample && o.num_return_sequences != 1)
    return bad("greedy search returns one sequence: num_return_sequences must be 1 (use beams or sampling)");
  if (o.do_sample && o.num_beams > 1)
    return bad("sampling with num_beams > 1 (beam sampling) is not supported");
  if (o.do_sample && o.num_return_sequences > kMaxBeams)
    return bad("num_return_sequences must be <= " + std::to_string(kMaxBeams) + " when sampling");
  if (!std::isfinite(o.length_penalty))
    return bad("length_penalty must be a finite number");
  if (!finite_positive(o.temperature))
    return bad("temperature must be > 0, got " + std::to_string(o.temperature));
  if (o.top_k < 0) return bad("top_k must be >= 0 (0 = off), got " + std::to_string(o.top_k));
  if (!(o.top_p > 0.0 && o.top_p <= 1.0))
    return bad("top_p must be in (0, 1], got " + std::to_string(o.top_p));
  if (!finite_positive(o.repetition_penalty))
    return bad("repetition_penalty must be > 0, got " + std::to_string(o.repetition_penalty));
  if (o.no_repeat_ngram_size < 0)
    return bad("no_repeat_ngram_size must be >= 0, got " + std::to_string(o.no_repeat_ngram_size));
  return Status::Ok();
}

GenerateOptions api::task_defaults(Task task) {
  GenerateOptions o;
  o.num_beams = 5;
  if (task == Task::kAsk) {
    o.max_new_tokens = 10;
    o.length_penalty = -1.0;
  } else {
    o.max_new_tokens = 50;
  }
  return o;
}

std::string api::task_prompt(Task task, const std::string& language_name, const std::string& question) {
  if (task == Task::kAsk) return "Question: " + question + " Short answer in " + language_name + ":";
  return "Caption in " + language_name + ":";
}

Result<TaskPlan> api::plan_task(const TaskRequest& req) {
  TaskPlan plan;
  plan.task = req.task;
  MBLIP_ASSIGN_OR_RETURN(plan.language, find_language(req.lang));
  if (req.task == Task::kAsk) {
    if (req.question.empty()) return invalid_argument("ask needs a question");
    if (!req.prompt.empty()) return invalid_argument("ask builds its prompt from the question: give no prompt");
    plan.prompt = task_prompt(Task::kAsk, plan.language.name, req.question);
  } else {
    if (!req.question.empty()) return invalid_argument("a caption takes no question (use ask)");
    plan.prompt = req.prompt.empty() ? task_prompt(Task::kCaption, plan.language.name) : req.prompt;
  }
  plan.options = task_defaults(req.task);
  bool beams_given = false, sample_given = false;
  for (const OptionValue& ov : req.options) {
    const OptionSpec* spec = find_option(ov.name);
    if (!spec) return invalid_argument("unknown generation option '" + ov.name + "'");
    MBLIP_RETURN_IF_ERROR(apply_option(*spec, ov.value, plan.options));
    beams_given = beams_given || std::string(spec->name) == "num_beams";
    sample_given = sample_given || std::string(spec->name) == "do_sample";
  }
  // Sampling draws one sequence per row: without an explicit beam count it uses one beam.
  if (sample_given && plan.options.do_sample && !beams_given) plan.options.num_beams = 1;
  MBLIP_RETURN_IF_ERROR(validate_generate_options(plan.options));
  if (req.decode.max_pixels <= 0)
    return invalid_argument("max_pixels must be positive, got " + std::to_string(req.decode.max_pixels));
  plan.decode = req.decode;
  return plan;
}

}  // namespace mblip
