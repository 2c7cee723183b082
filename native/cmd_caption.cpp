// `mblip caption` and `mblip ask`: load the model once, embed each image once, generate for each
// prompt; streams greedy/sampled text to the terminal, or prints one JSON object per line.
#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "mblip/mblip.h"

namespace mblip_cli {

std::function<void(double)> terminal_load_progress();  // cmd_cache.cpp

namespace {

const char* kCaptionHelp =
    "Usage: mblip caption -m MODEL.gguf [options] IMAGE...\n"
    "Captions each image (a bad image is reported and skipped; the exit code is then 1).\n"
    "\n"
    "  -m, --model FILE          model file (GGUF, from mblip-convert)\n"
    "  --prompt TEXT             prompt (default: 'Caption in {Language}:')\n"
    "  --lang LANGUAGE           caption language, code or English name (default English)\n";
const char* kAskHelp =
    "Usage: mblip ask -m MODEL.gguf [options] IMAGE -q QUESTION [-q QUESTION ...]\n"
    "Answers questions about one image (the image is embedded once).\n"
    "Prompt: 'Question: {q} Short answer in {Language}:'.\n"
    "\n"
    "  -m, --model FILE          model file (GGUF, from mblip-convert)\n"
    "  -q, --question TEXT       a question (repeatable)\n"
    "  --lang LANGUAGE           answer language, code or English name (default English)\n";
// Generation flags: each maps to a GenerateOptions field by name; the core parses, checks and
// applies them (mblip::plan_task), so the CLI and the JS package behave the same.
struct GenFlag {
  const char* flag;
  const char* option;
  const char* help;
};
const GenFlag kGenFlags[] = {
    {"--beams", "num_beams", "beam search with N beams (1 = greedy)"},
    {"--max-new-tokens", "max_new_tokens", "at most N new tokens"},
    {"--min-new-tokens", "min_new_tokens", "no eos before N tokens"},
    {"--length-penalty", "length_penalty", "beam length penalty"},
    {"--num-return-sequences", "num_return_sequences", "sequences to return (JSON: 'sequences')"},
    {"--early-stopping", "early_stopping", "beam search: true, false or never"},
    {"--repetition-penalty", "repetition_penalty", "HF repetition penalty (1 = off)"},
    {"--no-repeat-ngram-size", "no_repeat_ngram_size", "forbid repeated n-grams (0 = off)"},
    {"--temperature", "temperature", "sampling temperature"},
    {"--top-k", "top_k", "keep the K most likely tokens (0 = off)"},
    {"--top-p", "top_p", "nucleus sampling (1 = off)"},
    {"--seed", "seed", "sampling seed"},
};

std::string fmt_num(double x) {
  std::string s = std::to_string(x);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// The defaults shown in --help come from the core's task defaults (never restated here).
std::string common_help(mblip::Task task) {
  const mblip::GenerateOptions d = mblip::task_defaults(task);
  const auto dflt = [&](const std::string& opt) -> std::string {
    if (opt == "num_beams") return std::to_string(d.num_beams);
    if (opt == "max_new_tokens") return std::to_string(d.max_new_tokens);
    if (opt == "min_new_tokens") return std::to_string(d.min_new_tokens);
    if (opt == "length_penalty") return fmt_num(d.length_penalty);
    if (opt == "num_return_sequences") return std::to_string(d.num_return_sequences);
    if (opt == "early_stopping") return d.early_stopping == mblip::EarlyStopping::kNever ? "never" : d.early_stopping == mblip::EarlyStopping::kTrue ? "true" : "false";
    if (opt == "repetition_penalty") return fmt_num(d.repetition_penalty);
    if (opt == "no_repeat_ngram_size") return std::to_string(d.no_repeat_ngram_size);
    if (opt == "temperature") return fmt_num(d.temperature);
    if (opt == "top_k") return std::to_string(d.top_k);
    if (opt == "top_p") return fmt_num(d.top_p);
    if (opt == "seed") return std::to_string(d.seed);
    return "";
  };
  std::string h;
  for (const GenFlag& f : kGenFlags) {
    std::string left = std::string("  ") + f.flag + " X";
    left.resize(std::max<size_t>(left.size() + 1, 28), ' ');
    h += left + f.help + " (default " + dflt(f.option) + ")\n";
  }
  h +=
      "  --sample                  multinomial sampling instead of search (one beam unless --beams is given)\n"
      "  --no-exif                 ignore the EXIF orientation (as the HF processor does)\n"
      "  --threads N               worker threads (default: all cores)\n"
      "  --no-cache                neither read nor write the packed-weights cache\n"
      "  --json                    one JSON object per line: image, prompt, tokens, text, score, timings_ms\n"
      "  --verbose                 print per-stage timings to stderr\n"
      "  -h, --help                this help\n";
  return h;
}

nlohmann::ordered_json timings_json(const mblip::Timings& t) {
  nlohmann::ordered_json o = nlohmann::ordered_json::object();
  for (const auto& kv : t) o[kv.first] = kv.second;
  return o;
}

void print_timings(const std::string& what, const mblip::Timings& t) {
  std::cerr << "[timing] " << what << ":";
  for (const auto& kv : t) std::cerr << " " << kv.first << "=" << kv.second << "ms";
  std::cerr << "\n";
}

}  // namespace

int cmd_caption(const std::string& cmd, Args& args) {
  const bool ask = cmd == "ask";
  mblip::TaskRequest req;
  req.task = ask ? mblip::Task::kAsk : mblip::Task::kCaption;
  std::string model_path, v;
  bool json = false, verbose = false;
  mblip::LoadOptions lo;
  std::vector<std::string> images, questions;
  auto usage = [&](const std::string& m) { return fail(cmd, m, kExitUsage); };
  while (!args.done()) {
    long long n = 0;
    bool gen_flag = false;
    for (const GenFlag& f : kGenFlags) {
      if (args.option({f.flag}, &v)) {
        req.options.push_back({f.option, v});
        gen_flag = true;
        break;
      }
    }
    if (gen_flag) {
    } else if (args.flag({"-h", "--help"})) {
      std::cout << (ask ? kAskHelp : kCaptionHelp) << common_help(req.task);
      return kExitOk;
    } else if (args.option({"-m", "--model"}, &model_path)) {
    } else if (!ask && args.option({"--prompt"}, &req.prompt)) {
    } else if (args.option({"--lang"}, &req.lang)) {
    } else if (ask && args.option({"-q", "--question"}, &v)) {
      questions.push_back(v);
    } else if (args.flag({"--sample"})) {
      req.options.push_back({"do_sample", "true"});
    } else if (args.flag({"--no-exif"})) {
      req.decode.apply_exif = false;
    } else if (args.option({"--threads"}, &v)) {
      if (!parse_int(v, 0, 1024, &n)) return usage("--threads must be an integer in 0..1024, got '" + v + "'");
      lo.threads = static_cast<int>(n);
    } else if (args.flag({"--no-cache"})) {
      lo.weight_cache = false;  // neither read nor write the packed-weights cache (mblip cache --help)
    } else if (args.flag({"--json"})) {
      json = true;
    } else if (args.flag({"--verbose", "-v"})) {
      verbose = true;
    } else if (!args.peek().empty() && args.peek()[0] == '-' && args.peek() != "-") {
      return usage("unknown option '" + args.peek() + "'");
    } else {
      images.push_back(args.next());
    }
    if (!args.error().empty()) return usage(args.error());
  }
  if (model_path.empty()) return usage("missing -m MODEL.gguf");
  if (images.empty()) return usage(ask ? "missing IMAGE" : "missing IMAGE (one or more)");
  if (ask && images.size() != 1) return usage("ask takes exactly one IMAGE, got " + std::to_string(images.size()));
  if (ask && questions.empty()) return usage("missing -q QUESTION");

  // One plan per prompt (ask: per question); the core decides prompt and settings.
  std::vector<mblip::TaskPlan> plans;
  for (size_t k = 0; k < (ask ? questions.size() : 1); ++k) {
    if (ask) req.question = questions[k];
    auto plan = mblip::plan_task(req);
    if (!plan.ok()) {
      // Name the flag the user typed when the core names its option ("num_beams must be ...").
      const std::string& m = plan.status().message();
      for (const GenFlag& f : kGenFlags)
        if (m.rfind(f.option, 0) == 0) return usage(std::string(f.flag) + ": " + m);
      return usage(m);
    }
    plans.push_back(std::move(plan).value());
  }
  const mblip::GenerateOptions& g = plans[0].options;

  lo.on_progress = terminal_load_progress();  // cmd_cache.cpp
  const auto load_t0 = std::chrono::steady_clock::now();
  auto model = mblip::Model::load_file(model_path, lo);
  if (!model.ok()) return fail(cmd, model.status());
  if (verbose)
    std::cerr << "[timing] load=" << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_t0).count()
              << "ms\n";
  if (model.value()->info().random_weights && !json)
    std::cerr << "mblip " << cmd << ": note: this model has random weights; its output is meaningless\n";
  auto session = model.value()->new_session();
  if (!session.ok()) return fail(cmd, session.status());

  int rc = kExitOk;
  const bool stream = !json && g.num_beams == 1;
  for (const std::string& image : images) {
    auto emb = session.value()->embed_image_file(image, plans[0].decode);
    if (!emb.ok()) {
      rc = fail(cmd, emb.status());
      continue;
    }
    if (verbose) print_timings(image, emb.value().timings_ms);
    for (size_t k = 0; k < plans.size(); ++k) {
      const std::string label = ask ? "Q: " + questions[k] + "\nA: " : (images.size() > 1 ? image + ": " : "");
      mblip::Callbacks cb;
      if (stream) {
        std::cout << label << std::flush;
        cb.on_token = [](const mblip::TokenEvent& e) {
          if (!e.provisional) std::cout << e.delta << std::flush;
          return true;
        };
      }
      auto r = session.value()->generate(emb.value(), plans[k].prompt, plans[k].options, cb);
      if (!r.ok()) {
        if (stream) std::cout << "\n";
        rc = fail(cmd, r.status().with_context(image));
        continue;
      }
      const mblip::GenerateResult& res = r.value();
      if (json) {
        nlohmann::ordered_json o;
        o["image"] = image;
        o["prompt"] = plans[k].prompt;
        if (ask) o["question"] = questions[k];
        o["tokens"] = res.tokens();
        o["text"] = res.text();
        if (g.num_beams > 1) o["score"] = res.score();
        mblip::Timings t = emb.value().timings_ms;
        if (k > 0) t.clear();  // the image was embedded once, for the first prompt
        t.insert(t.end(), res.timings_ms.begin(), res.timings_ms.end());
        o["timings_ms"] = timings_json(t);
        std::cout << o.dump() << "\n" << std::flush;
      } else if (stream) {
        std::cout << "\n" << std::flush;
      } else {
        std::cout << label << res.text() << "\n" << std::flush;
      }
      if (verbose) print_timings(image + " [" + plans[k].prompt + "]", res.timings_ms);
    }
  }
  return rc;
}

}  // namespace mblip_cli
