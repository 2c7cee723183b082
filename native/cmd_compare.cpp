// `mblip compare`: runs a test model (e.g. a quantized recipe) and a reference model (e.g.
// float32) on the user's images and prints per-stage cosine / max abs error, teacher-forced
// top-1 agreement and greedy agreement (text table or one JSON object per line + a summary).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "mblip/compare.h"
#include "mblip/mblip.h"

namespace mblip_cli {

int cmd_compare(Args& args);

namespace {

const char* kCompareHelp =
    "Usage: mblip compare -m TEST.gguf --reference REF.gguf [options] IMAGE...\n"
    "Runs both models on each image and reports how far TEST drifts from REF: per stage (vision,\n"
    "qformer, projection, encoder, logits0 = decoder step 0) the cosine similarity and the max abs\n"
    "error; the top-1 agreement under teacher forcing (both decoders get REF's greedy tokens; a\n"
    "position agrees when both argmaxes are equal); whether the greedy tokens are identical; and\n"
    "REF's smallest top-1 minus top-2 logit gap along its greedy path (a disagreement where that\n"
    "gap is tiny is a near tie, not a quantization error). The models must have the same\n"
    "architecture (exit 1 otherwise). Typical use: TEST = a quantized recipe, REF = float32 or f16.\n"
    "\n"
    "  -m, --model FILE          the model to check (GGUF)\n"
    "  -r, --reference FILE      the reference model (GGUF, same checkpoint)\n"
    "  --prompt TEXT             prompt (default: 'Caption in {Language}:')\n"
    "  --lang LANGUAGE           language of the default prompt, code or English name (default English)\n"
    "  --max-new-tokens N        length of the greedy path (default 20)\n"
    "  --no-exif                 ignore the EXIF orientation (as the HF processor does)\n"
    "  --threads N               worker threads (default: all cores)\n"
    "  --json                    one JSON object per image per line: stages.<stage>.{cosine,max_abs_error,\n"
    "                            reference_max_abs}, teacher_forced_positions / _agree, top1_agreement,\n"
    "                            first_disagreement, greedy_tokens_agree, reference_min_top2_gap,\n"
    "                            reference_tokens / test_tokens / _text; then {\"summary\": {...}} with the\n"
    "                            worst cosine and largest error per stage over all images\n"
    "  -h, --help                this help\n"
    "Exit code: 0 when every image was compared (whatever the numbers), 1 on errors, 2 on bad usage.\n";

bool read_file(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

// nlohmann writes NaN / inf as null; keep that explicit.
nlohmann::ordered_json num(double x) { return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(); }

nlohmann::ordered_json report_json(const std::string& image, const mblip::CompareReport& r) {
  nlohmann::ordered_json o;
  o["image"] = image;
  o["prompt"] = r.prompt;
  nlohmann::ordered_json st = nlohmann::ordered_json::object();
  for (const auto& s : r.stages)
    st[s.name] = {{"cosine", num(s.cosine)}, {"max_abs_error", num(s.max_abs_error)},
                  {"reference_max_abs", num(s.reference_max_abs)}, {"size", s.size}};
  o["stages"] = st;
  o["teacher_forced_positions"] = r.teacher_forced_positions;
  o["teacher_forced_agree"] = r.teacher_forced_agree;
  o["top1_agreement"] = r.top1_agreement();
  o["first_disagreement"] = r.first_disagreement;
  o["greedy_tokens_agree"] = r.greedy_tokens_agree;
  o["reference_min_top2_gap"] = num(r.reference_min_top2_gap);
  o["test_min_top2_gap"] = num(r.test_min_top2_gap);
  o["reference_tokens"] = r.reference_tokens;
  o["test_tokens"] = r.test_tokens;
  o["reference_text"] = r.reference_text;
  o["test_text"] = r.test_text;
  return o;
}

void print_report(const std::string& image, const mblip::CompareReport& r) {
  std::printf("%s  (prompt: \"%s\")\n", image.c_str(), r.prompt.c_str());
  std::printf("  %-11s %-12s %-12s %s\n", "stage", "cosine", "max_abs_err", "ref_max_abs");
  for (const auto& s : r.stages)
    std::printf("  %-11s %-12.8f %-12.4g %.4g\n", s.name.c_str(), s.cosine, s.max_abs_error, s.reference_max_abs);
  std::printf("  teacher-forced top-1: %d/%d agree", r.teacher_forced_agree, r.teacher_forced_positions);
  if (r.first_disagreement >= 0) std::printf(" (first difference at position %d)", r.first_disagreement);
  std::printf("; reference min top-2 gap %.4g\n", r.reference_min_top2_gap);
  std::printf("  greedy tokens: %s\n", r.greedy_tokens_agree ? "identical" : "differ");
  std::printf("    reference: %s\n", r.reference_text.c_str());
  if (!r.greedy_tokens_agree) std::printf("    test:      %s\n", r.test_text.c_str());
  std::fflush(stdout);
}

struct Summary {
  int images = 0, failed = 0, greedy_agree = 0, positions = 0, agree = 0;
  double min_gap = std::numeric_limits<double>::infinity();
  std::map<std::string, double> min_cos, max_err;
  void add(const mblip::CompareReport& r) {
    ++images;
    greedy_agree += r.greedy_tokens_agree ? 1 : 0;
    positions += r.teacher_forced_positions;
    agree += r.teacher_forced_agree;
    min_gap = std::min(min_gap, r.reference_min_top2_gap);
    for (const auto& s : r.stages) {
      auto c = min_cos.find(s.name);
      // NaN (a broken output) must win the minimum.
      if (c == min_cos.end() || !(s.cosine >= c->second)) min_cos[s.name] = s.cosine;
      max_err[s.name] = std::max(max_err.count(s.name) ? max_err[s.name] : 0.0, s.max_abs_error);
    }
  }
};

}  // namespace

int cmd_compare(Args& args) {
  const std::string cmd = "compare";
  mblip::CompareOptions co;
  mblip::LoadOptions lo;
  std::string test_path, ref_path, lang = "English", v;
  bool json = false;
  std::vector<std::string> images;
  auto usage = [&](const std::string& m) { return fail(cmd, m, kExitUsage); };
  while (!args.done()) {
    long long n = 0;
    if (args.flag({"-h", "--help"})) {
      std::cout << kCompareHelp;
      return kExitOk;
    } else if (args.option({"-m", "--model"}, &test_path)) {
    } else if (args.option({"-r", "--reference"}, &ref_path)) {
    } else if (args.option({"--prompt"}, &co.prompt)) {
      if (args.error().empty() && co.prompt.empty()) return usage("--prompt must not be empty");
    } else if (args.option({"--lang"}, &lang)) {
    } else if (args.option({"--max-new-tokens"}, &v)) {
      if (!parse_int(v, 1, mblip::kMaxNewTokensLimit, &n))
        return usage("--max-new-tokens must be an integer in 1.." + std::to_string(mblip::kMaxNewTokensLimit) +
                     ", got '" + v + "'");
      co.max_new_tokens = static_cast<int>(n);
    } else if (args.flag({"--no-exif"})) {
      co.decode.apply_exif = false;
    } else if (args.option({"--threads"}, &v)) {
      if (!parse_int(v, 0, 1024, &n)) return usage("--threads must be an integer in 0..1024, got '" + v + "'");
      lo.threads = static_cast<int>(n);
      co.threads = static_cast<int>(n);
    } else if (args.flag({"--json"})) {
      json = true;
    } else if (!args.peek().empty() && args.peek()[0] == '-' && args.peek() != "-") {
      return usage("unknown option '" + args.peek() + "'");
    } else {
      images.push_back(args.next());
    }
    if (!args.error().empty()) return usage(args.error());
  }
  if (test_path.empty()) return usage("missing -m TEST.gguf (the model to check)");
  if (ref_path.empty()) return usage("missing --reference REF.gguf");
  if (images.empty()) return usage("missing IMAGE (one or more)");
  auto language = mblip::find_language(lang);
  if (!language.ok()) return usage(language.status().message());
  co.language = language.value().name;

  auto ref = mblip::Model::load_file(ref_path, lo);
  if (!ref.ok()) return fail(cmd, ref.status().with_context("reference model"));
  auto test = mblip::Model::load_file(test_path, lo);
  if (!test.ok()) return fail(cmd, test.status().with_context("test model"));
  if (mblip::Status st = mblip::check_same_architecture(*test.value(), *ref.value()); !st.ok())
    return fail(cmd, st.message() + " (" + test_path + " vs " + ref_path + ")", kExitError);

  int rc = kExitOk;
  Summary sum;
  for (const std::string& image : images) {
    std::vector<uint8_t> bytes;
    if (!read_file(image, &bytes)) {
      rc = fail(cmd, image + ": cannot read the file");
      ++sum.failed;
      continue;
    }
    auto r = mblip::compare_models(*test.value(), *ref.value(), bytes.data(), bytes.size(), co);
    if (!r.ok()) {
      rc = fail(cmd, r.status().with_context(image));
      ++sum.failed;
      continue;
    }
    sum.add(r.value());
    if (json) std::cout << report_json(image, r.value()).dump() << "\n" << std::flush;
    else print_report(image, r.value());
  }
  if (json) {
    nlohmann::ordered_json s;
    s["images"] = sum.images;
    s["failed"] = sum.failed;
    nlohmann::ordered_json mc = nlohmann::ordered_json::object(), me = nlohmann::ordered_json::object();
    for (const auto& name : mblip::compare_stage_names())
      if (sum.min_cos.count(name)) {
        mc[name] = num(sum.min_cos[name]);
        me[name] = num(sum.max_err[name]);
      }
    s["min_cosine"] = mc;
    s["max_abs_error"] = me;
    s["teacher_forced_positions"] = sum.positions;
    s["teacher_forced_agree"] = sum.agree;
    s["top1_agreement"] = sum.positions ? static_cast<double>(sum.agree) / sum.positions : 1.0;
    s["greedy_agree"] = sum.greedy_agree;
    s["reference_min_top2_gap"] = num(sum.min_gap);
    std::cout << nlohmann::ordered_json{{"summary", s}}.dump() << "\n" << std::flush;
  } else if (sum.images + sum.failed > 1) {
    std::printf("summary over %d images%s: worst cosine", sum.images,
                sum.failed ? (" (" + std::to_string(sum.failed) + " failed)").c_str() : "");
    for (const auto& name : mblip::compare_stage_names())
      if (sum.min_cos.count(name)) std::printf(" %s %.8f", name.c_str(), sum.min_cos[name]);
    std::printf("; top-1 %d/%d; greedy identical on %d/%d\n", sum.agree, sum.positions, sum.greedy_agree, sum.images);
  }
  return rc;
}

}  // namespace mblip_cli
