// `mblip caption` and `mblip ask`: load the model once, embed each image once, generate for each
// prompt; streams greedy/sampled text to the terminal, or prints one JSON object per line.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "mblip/mblip.h"

namespace mblip_cli {

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
const char* kCommonHelp =
    "  --beams N                 beam search with N beams (caption default 5, ask 5; 1 = greedy)\n"
    "  --max-new-tokens N        at most N new tokens (caption default 50, ask 10)\n"
    "  --min-new-tokens N        no eos before N tokens (default 0)\n"
    "  --length-penalty X        beam length penalty (caption default 1, ask -1)\n"
    "  --repetition-penalty X    HF repetition penalty (default 1 = off)\n"
    "  --no-repeat-ngram-size N  forbid repeated n-grams (default 0 = off)\n"
    "  --sample                  multinomial sampling instead of search (sets --beams 1)\n"
    "  --temperature T           sampling temperature (default 1)\n"
    "  --top-k K                 keep the K most likely tokens (default 50, 0 = off)\n"
    "  --top-p P                 nucleus sampling (default 1 = off)\n"
    "  --seed S                  sampling seed (default 0)\n"
    "  --no-exif                 ignore the EXIF orientation (as the HF processor does)\n"
    "  --threads N               worker threads (default: all cores)\n"
    "  --json                    one JSON object per line: image, prompt, tokens, text, score, timings_ms\n"
    "  --verbose                 print per-stage timings to stderr\n"
    "  -h, --help                this help\n";

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
  mblip::GenerateOptions g = ask ? mblip::vqa_defaults() : mblip::caption_defaults();
  std::string model_path, prompt, lang = "English", v;
  bool have_prompt = false, json = false, verbose = false, beams_set = false;
  mblip::DecodeOptions dec;
  mblip::LoadOptions lo;
  std::vector<std::string> images, questions;
  auto usage = [&](const std::string& m) { return fail(cmd, m, kExitUsage); };
  while (!args.done()) {
    long long n = 0;
    double x = 0;
    if (args.flag({"-h", "--help"})) {
      std::cout << (ask ? kAskHelp : kCaptionHelp) << kCommonHelp;
      return kExitOk;
    } else if (args.option({"-m", "--model"}, &model_path)) {
    } else if (!ask && args.option({"--prompt"}, &prompt)) {
      have_prompt = true;
    } else if (args.option({"--lang"}, &lang)) {
    } else if (ask && args.option({"-q", "--question"}, &v)) {
      questions.push_back(v);
    } else if (args.option({"--beams"}, &v)) {
      if (!parse_int(v, 1, mblip::kMaxBeams, &n)) return usage("--beams must be an integer in 1.." + std::to_string(mblip::kMaxBeams) + ", got '" + v + "'");
      g.num_beams = static_cast<int>(n);
      beams_set = true;
    } else if (args.option({"--max-new-tokens"}, &v)) {
      if (!parse_int(v, 1, mblip::kMaxNewTokensLimit, &n)) return usage("--max-new-tokens must be an integer in 1.." + std::to_string(mblip::kMaxNewTokensLimit) + ", got '" + v + "'");
      g.max_new_tokens = static_cast<int>(n);
    } else if (args.option({"--min-new-tokens"}, &v)) {
      if (!parse_int(v, 0, mblip::kMaxNewTokensLimit, &n)) return usage("--min-new-tokens must be a non-negative integer, got '" + v + "'");
      g.min_new_tokens = static_cast<int>(n);
    } else if (args.option({"--length-penalty"}, &v)) {
      if (!parse_double(v, &x)) return usage("--length-penalty must be a number, got '" + v + "'");
      g.length_penalty = x;
    } else if (args.option({"--repetition-penalty"}, &v)) {
      if (!parse_double(v, &x)) return usage("--repetition-penalty must be a number, got '" + v + "'");
      g.repetition_penalty = x;
    } else if (args.option({"--no-repeat-ngram-size"}, &v)) {
      if (!parse_int(v, 0, 1000, &n)) return usage("--no-repeat-ngram-size must be a non-negative integer, got '" + v + "'");
      g.no_repeat_ngram_size = static_cast<int>(n);
    } else if (args.flag({"--sample"})) {
      g.do_sample = true;
    } else if (args.option({"--temperature"}, &v)) {
      if (!parse_double(v, &x)) return usage("--temperature must be a number, got '" + v + "'");
      g.temperature = x;
    } else if (args.option({"--top-k"}, &v)) {
      if (!parse_int(v, 0, 1 << 30, &n)) return usage("--top-k must be a non-negative integer, got '" + v + "'");
      g.top_k = static_cast<int>(n);
    } else if (args.option({"--top-p"}, &v)) {
      if (!parse_double(v, &x)) return usage("--top-p must be a number, got '" + v + "'");
      g.top_p = x;
    } else if (args.option({"--seed"}, &v)) {
      if (!parse_int(v, 0, (1LL << 62), &n)) return usage("--seed must be a non-negative integer, got '" + v + "'");
      g.seed = static_cast<uint64_t>(n);
    } else if (args.flag({"--no-exif"})) {
      dec.apply_exif = false;
    } else if (args.option({"--threads"}, &v)) {
      if (!parse_int(v, 0, 1024, &n)) return usage("--threads must be an integer in 0..1024, got '" + v + "'");
      lo.threads = static_cast<int>(n);
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
  if (g.do_sample && !beams_set) g.num_beams = 1;
  auto language = mblip::find_language(lang);
  if (!language.ok()) return usage(language.status().message());
  if (mblip::Status st = mblip::validate_generate_options(g); !st.ok()) return usage(st.message());

  std::vector<std::string> prompts;
  if (ask) {
    for (const auto& q : questions) prompts.push_back(mblip::vqa_prompt(q, language.value().name));
  } else {
    prompts.push_back(have_prompt ? prompt : mblip::caption_prompt(language.value().name));
  }

  auto model = mblip::Model::load_file(model_path, lo);
  if (!model.ok()) return fail(cmd, model.status());
  if (model.value()->info().random_weights && !json)
    std::cerr << "mblip " << cmd << ": note: this model has random weights; its output is meaningless\n";
  auto session = model.value()->new_session();
  if (!session.ok()) return fail(cmd, session.status());

  int rc = kExitOk;
  const bool stream = !json && g.num_beams == 1;
  for (const std::string& image : images) {
    auto emb = session.value()->embed_image_file(image, dec);
    if (!emb.ok()) {
      rc = fail(cmd, emb.status());
      continue;
    }
    if (verbose) print_timings(image, emb.value().timings_ms);
    for (size_t k = 0; k < prompts.size(); ++k) {
      const std::string label = ask ? "Q: " + questions[k] + "\nA: " : (images.size() > 1 ? image + ": " : "");
      mblip::Callbacks cb;
      if (stream) {
        std::cout << label << std::flush;
        cb.on_token = [](const mblip::TokenEvent& e) {
          if (!e.provisional) std::cout << e.delta << std::flush;
          return true;
        };
      }
      auto r = session.value()->generate(emb.value(), prompts[k], g, cb);
      if (!r.ok()) {
        if (stream) std::cout << "\n";
        rc = fail(cmd, r.status().with_context(image));
        continue;
      }
      const mblip::GenerateResult& res = r.value();
      if (json) {
        nlohmann::ordered_json o;
        o["image"] = image;
        o["prompt"] = prompts[k];
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
      if (verbose) print_timings(image + " [" + prompts[k] + "]", res.timings_ms);
    }
  }
  return rc;
}

}  // namespace mblip_cli
