// `mblip bench`: load time, per-stage times (preprocess, vision, Q-Former, encoder, per-token
// decode for greedy and beam 5), tokens/s and peak RSS of one model, next to the machine's
// read bandwidth and fp32 / int8 peaks measured in the same run and the lower bound per stage.
// Prints figures; asserts nothing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "mblip/bench.h"
#include "mblip/cache.h"
#include "mblip/mblip.h"

namespace mblip_cli {

namespace {

using mblip::bench::OpShapes;
using mblip::bench::OpTiming;
using mblip::bench::ProbeResult;
using mblip::bench::current_rss_bytes;
using mblip::bench::llc_bytes;
using mblip::bench::loadavg;
using mblip::bench::peak_rss_bytes;

// The config fields the bounds need, read from the model's config JSON (ModelFile::config_json).
struct BenchConfig {
  struct Vision {
    int64_t hidden_size = 0, intermediate_size = 0, num_layers = 0, image_size = 0, patch_size = 0;
    int64_t num_positions() const { return patch_size > 0 ? (image_size / patch_size) * (image_size / patch_size) + 1 : 0; }
  } vision;
  struct QFormer {
    int64_t hidden_size = 0, num_layers = 0;
  } qformer;
  struct Text {
    int64_t num_heads = 0, d_kv = 0, num_layers = 0, num_decoder_layers = 0;
    bool tie_word_embeddings = false;
  } text;
  int64_t num_query_tokens = 0;
};

BenchConfig bench_config(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  BenchConfig c;
  if (!j.is_object()) return c;
  auto get = [](const nlohmann::json& o, const char* k, int64_t d = 0) {
    return o.is_object() && o.contains(k) && o[k].is_number() ? o[k].get<int64_t>() : d;
  };
  const nlohmann::json v = j.value("vision", nlohmann::json::object());
  const nlohmann::json q = j.value("qformer", nlohmann::json::object());
  const nlohmann::json t = j.value("text", nlohmann::json::object());
  c.vision = {get(v, "hidden_size"), get(v, "intermediate_size"), get(v, "num_layers"), get(v, "image_size"),
              get(v, "patch_size")};
  c.qformer = {get(q, "hidden_size"), get(q, "num_layers")};
  c.text.num_heads = get(t, "num_heads");
  c.text.d_kv = get(t, "d_kv");
  c.text.num_layers = get(t, "num_layers");
  c.text.num_decoder_layers = get(t, "num_decoder_layers", c.text.num_layers);
  c.text.tie_word_embeddings = t.is_object() && t.value("tie_word_embeddings", false);
  c.num_query_tokens = get(j, "num_query_tokens");
  return c;
}

const char* kBenchHelp =
    "Usage: mblip bench -m MODEL.gguf [options] [IMAGE]\n"
    "Times one caption pipeline stage by stage and compares it with this machine's limits,\n"
    "measured in the same run: streaming read bandwidth (buffer > LLC), fp32 FMA peak and the\n"
    "XNNPACK int8 (qc8w) GEMM peak on a cache-resident shape. Lower bound per stage = weight\n"
    "bytes / bandwidth (decode) or FLOPs / peak (vision, Q-Former, encoder), whichever is larger.\n"
    "Without IMAGE a synthetic 640x480 RGB image is used (no decode stage).\n"
    "\n"
    "  -m, --model FILE    model file (GGUF)\n"
    "  --threads N         worker threads (default: all cores)\n"
    "  --tokens N          new tokens per decode measurement (default 20; forced, no early eos)\n"
    "  --beams N           beams of the beam-search measurement (default 5; 0 = skip)\n"
    "  --runs N            captions in one session (default 1): with N >= 2 the first (cold: fresh\n"
    "                      buffers) is reported on its own, the table gives the median of the others\n"
    "  --prompt TEXT       prompt (default 'Caption in English:')\n"
    "  --no-probes         skip the bandwidth / peak probes, the ops table (each op alone) and the\n"
    "                      vision and encoder stages profiled in place (each op timed where it runs)\n"
    "  --json              one JSON object instead of the table\n"
    "  -h, --help          this help\n";

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Weight statistics of the model file by stage: bytes as stored, parameters of matrices.
struct StageWeights {
  uint64_t bytes = 0;    // stored bytes of all tensors of the stage
  double params = 0;     // elements of linear weights (>= 2-D), counted per the rows that use them
  double img_params = 0; // Q-Former cross-attention K/V: applied to the image tokens
  std::string dtype;     // type of the stage's largest tensor
  uint64_t largest = 0;
};

struct ModelStats {
  StageWeights vision, qformer, proj, encoder, decoder_step, cross_kv, head, embed;
  uint64_t file_bytes = 0;
  BenchConfig cfg;
  std::vector<mblip::TensorEntry> tensors;
};

mblip::Result<ModelStats> model_stats(const std::string& path) {
  MBLIP_ASSIGN_OR_RETURN(std::unique_ptr<mblip::ModelFile> f, mblip::ModelFile::open(path));
  ModelStats st;
  st.cfg = bench_config(f->config_json());
  st.tensors = f->tensors();
  std::error_code ec;
  st.file_bytes = static_cast<uint64_t>(std::filesystem::file_size(path, ec));
  if (ec) st.file_bytes = 0;
  for (const mblip::TensorEntry& t : f->tensors()) {
    StageWeights* s = nullptr;
    const std::string& c = t.component;
    if (c == "vision") s = &st.vision;
    else if (c == "qformer") s = &st.qformer;
    else if (c == "projection") s = &st.proj;
    else if (c == "text_encoder") s = &st.encoder;
    else if (c == "text_decoder") s = t.per_step ? &st.decoder_step : &st.cross_kv;
    else if (c == "lm_head") s = &st.head;
    else if (c == "embeddings") s = t.per_step ? &st.head : &st.embed;  // tied: read as the lm_head
    if (!s) continue;
    s->bytes += t.bytes;
    if (t.bytes > s->largest) {
      s->largest = t.bytes;
      s->dtype = t.type;
    }
    double numel = 1;
    for (int64_t e : t.shape) numel *= static_cast<double>(e);
    if (!t.linear) continue;
    if (s == &st.qformer && t.rows == "many")  // cross-attention K/V, applied to the image tokens
      s->img_params += numel;
    else
      s->params += numel;
  }
  return st;
}

std::vector<uint8_t> synthetic_rgb(int w, int h) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / w);
      p[1] = static_cast<uint8_t>(y * 255 / h);
      p[2] = static_cast<uint8_t>(((x / 16 + y / 16) & 1) * 200);
    }
  return px;
}

struct DecodeRun {
  double tokenize = 0, encoder = 0, decoder = 0, first_ms = 0, per_token_ms = 0, total = 0;
  int tokens = 0;
  size_t prompt_tokens = 0;
};

mblip::Result<DecodeRun> run_decode(mblip::Session& s, const mblip::ImageEmbedding& emb, const std::string& prompt,
                                    int tokens, int beams) {
  mblip::GenerateOptions g;
  g.max_new_tokens = tokens;
  g.min_new_tokens = tokens;  // random weights may emit eos early: force the length
  g.num_beams = beams;
  g.length_penalty = 1.0;
  std::vector<double> stamps;
  mblip::Callbacks cb;
  const auto t0 = Clock::now();
  cb.on_token = [&](const mblip::TokenEvent&) {
    stamps.push_back(ms_since(t0));
    return true;
  };
  MBLIP_ASSIGN_OR_RETURN(mblip::GenerateResult r, s.generate(emb, prompt, g, cb));
  DecodeRun d;
  d.total = ms_since(t0);
  for (const auto& kv : r.timings_ms) {
    if (kv.first == "tokenize") d.tokenize = kv.second;
    if (kv.first == "encoder") d.encoder = kv.second;
    if (kv.first == "decoder") d.decoder = kv.second;
  }
  d.prompt_tokens = r.prompt_tokens.size();
  // One event per step (greedy: per token; beam: the best running beam).
  d.tokens = static_cast<int>(stamps.size());
  if (stamps.size() >= 2) {
    d.per_token_ms = (stamps.back() - stamps.front()) / static_cast<double>(stamps.size() - 1);
    d.first_ms = d.decoder - d.per_token_ms * static_cast<double>(stamps.size() - 1);
  } else {
    d.per_token_ms = d.decoder;
  }
  return d;
}

// Field by field median of runs (prompt tokens and token count are the same in every run).
DecodeRun median_run(const std::vector<DecodeRun>& runs) {
  if (runs.empty()) return DecodeRun{};
  DecodeRun m = runs.front();
  auto med = [&](double DecodeRun::*f) {
    std::vector<double> v;
    for (const DecodeRun& r : runs) v.push_back(r.*f);
    return median(v);
  };
  m.tokenize = med(&DecodeRun::tokenize);
  m.encoder = med(&DecodeRun::encoder);
  m.decoder = med(&DecodeRun::decoder);
  m.first_ms = med(&DecodeRun::first_ms);
  m.per_token_ms = med(&DecodeRun::per_token_ms);
  m.total = med(&DecodeRun::total);
  return m;
}

std::string fmt(double v, int prec = 1) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(prec) << v;
  return o.str();
}

}  // namespace

int cmd_bench(Args& args) {
  const std::string cmd = "bench";
  std::string model_path, image, prompt = "Caption in English:", v;
  bool json = false, probes = true;
  long long threads = 0, tokens = 20, beams = 5, runs = 1;
  auto usage = [&](const std::string& m) { return fail(cmd, m, kExitUsage); };
  while (!args.done()) {
    if (args.flag({"-h", "--help"})) {
      std::cout << kBenchHelp;
      return kExitOk;
    } else if (args.option({"-m", "--model"}, &model_path)) {
    } else if (args.option({"--threads"}, &v)) {
      if (!parse_int(v, 1, 256, &threads)) return usage("--threads needs an integer in 1..256");
    } else if (args.option({"--tokens"}, &v)) {
      if (!parse_int(v, 2, mblip::kMaxNewTokensLimit, &tokens)) return usage("--tokens needs an integer in 2..512");
    } else if (args.option({"--beams"}, &v)) {
      if (!parse_int(v, 0, mblip::kMaxBeams, &beams)) return usage("--beams needs an integer in 0..64");
    } else if (args.option({"--runs"}, &v)) {
      if (!parse_int(v, 1, 100, &runs)) return usage("--runs needs an integer in 1..100");
    } else if (args.option({"--prompt"}, &prompt)) {
    } else if (args.flag({"--json"})) {
      json = true;
    } else if (args.flag({"--no-probes"})) {
      probes = false;
    } else if (!args.peek().empty() && args.peek()[0] == '-' && args.peek() != "-") {
      return usage("unknown option " + args.peek());
    } else if (image.empty()) {
      image = args.next();
    } else {
      return usage("only one IMAGE");
    }
    if (!args.error().empty()) return usage(args.error());
  }
  if (model_path.empty()) return usage("-m MODEL.gguf is required");

  const std::string load_before = loadavg();
  auto stats_r = model_stats(model_path);
  if (!stats_r.ok()) return fail(cmd, stats_r.status().with_context(model_path));
  const ModelStats& st = stats_r.value();

  mblip::LoadOptions lo;
  lo.threads = static_cast<int>(threads);
  auto t0 = Clock::now();
  auto model_r = mblip::Model::load_file(model_path, lo);
  if (!model_r.ok()) return fail(cmd, model_r.status().with_context(model_path));
  const double load_ms = ms_since(t0);
  const size_t rss_after_load = current_rss_bytes();
  const mblip::WeightCacheMapping cache_map = mblip::weight_cache_mapping();
  auto model = model_r.value();
  auto sess_r = model->new_session();
  if (!sess_r.ok()) return fail(cmd, sess_r.status());
  mblip::Session& sess = *sess_r.value();

  // The whole caption (image stages, greedy decode, beam decode) `runs` times in one session. The
  // first run is cold: its buffers are fresh memory, which these VMs fault in slowly (TOOLCHAIN §12:
  // ~3 s per GiB), as a process's first caption does. With runs >= 2 the table gives the median of
  // the warm runs (a session's later captions) and the first caption separately.
  std::map<std::string, std::vector<double>> stage;
  mblip::ImageEmbedding emb;
  const std::vector<uint8_t> rgb = image.empty() ? synthetic_rgb(640, 480) : std::vector<uint8_t>();
  std::vector<DecodeRun> greedy_runs, beam_runs;
  double first_caption_ms = 0;
  for (long long r = 0; r < runs; ++r) {
    auto e = image.empty() ? sess.embed_pixels(rgb.data(), 640, 480, mblip::PixelFormat::kRGB)
                           : sess.embed_image_file(image);
    if (!e.ok()) return fail(cmd, e.status());
    emb = std::move(e).value();
    double image_ms = 0;
    for (const auto& kv : emb.timings_ms) {
      if (r > 0 || runs == 1) stage[kv.first].push_back(kv.second);
      image_ms += kv.second;
    }
    auto g = run_decode(sess, emb, prompt, static_cast<int>(tokens), 1);
    if (!g.ok()) return fail(cmd, g.status());
    if (r == 0) first_caption_ms = image_ms + g.value().total;
    if (beams > 1) {
      auto b = run_decode(sess, emb, prompt, static_cast<int>(tokens), static_cast<int>(beams));
      if (!b.ok()) return fail(cmd, b.status());
      if (r > 0 || runs == 1) beam_runs.push_back(b.value());
    }
    if (r > 0 || runs == 1) greedy_runs.push_back(g.value());
  }
  const DecodeRun G = median_run(greedy_runs);
  const DecodeRun B = median_run(beam_runs);  // all zero without a beam measurement
  const size_t peak_rss = peak_rss_bytes();
  const std::string load_after = loadavg();
  const int pool_threads = threads > 0 ? static_cast<int>(threads) : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // The vision stage once more with each op timed where it runs (its weights streamed from memory,
  // as in a caption), beside the ops timed alone. Before the probes: their 4 GiB read buffer can
  // push the mapped weights out of the page cache.
  std::vector<std::pair<std::string, double>> vision_profile, encoder_profile;
  if (probes) {
    auto vp = mblip::bench::profile_vision(sess);
    if (!vp.ok()) return fail(cmd, vp.status());
    vision_profile = std::move(vp).value();
    auto ep = mblip::bench::profile_encoder(
        sess, static_cast<size_t>(st.cfg.num_query_tokens) + G.prompt_tokens);
    if (!ep.ok()) return fail(cmd, ep.status());
    encoder_profile = std::move(ep).value();
  }

  // Machine limits, measured now (after the model stages, so the probe buffer stays out of
  // the model's peak RSS).
  double bw = 0, f32_peak = 0, i8_peak = 0, vit_gemm = 0;
  std::string bw_d, f32_d, i8_d, vit_d;
  std::vector<OpTiming> ops;
  if (probes) {
    mblip::bench::Probes probe(pool_threads);
    const size_t buf = std::max<size_t>(size_t(512) << 20, 8 * llc_bytes());
    ProbeResult p = probe.read_bandwidth(buf);
    bw = p.value, bw_d = p.detail;
    p = probe.fp32_peak();
    f32_peak = p.value, f32_d = p.detail;
    p = probe.linear_gemm("q8_0", 256, 512, 512);
    i8_peak = p.value, i8_d = p.detail;
    const std::string vt = st.vision.dtype.empty() ? "q8_0" : st.vision.dtype;
    p = probe.linear_gemm(vt.c_str(), 257, static_cast<size_t>(st.cfg.vision.hidden_size),
                          static_cast<size_t>(st.cfg.vision.intermediate_size));
    vit_gemm = p.value, vit_d = p.detail;
    OpShapes shapes;
    shapes.vision_layers = static_cast<size_t>(st.cfg.vision.num_layers);
    shapes.text_layers = static_cast<size_t>(st.cfg.text.num_layers);
    shapes.enc_len = static_cast<size_t>(st.cfg.num_query_tokens) + G.prompt_tokens;
    mblip::bench::set_linear_types(shapes, st.tensors);
    ops = probe.ops(shapes);
  }

  // FLOPs and bytes per stage.
  const auto& c = st.cfg;
  const double n_img = static_cast<double>(c.vision.num_positions()), nq = static_cast<double>(c.num_query_tokens);
  const double enc_len = nq + static_cast<double>(G.prompt_tokens);
  const double dv = static_cast<double>(c.vision.hidden_size);
  const double vit_flops = 2 * n_img * st.vision.params + 4 * n_img * n_img * dv * c.vision.num_layers;
  const double qf_d = static_cast<double>(c.qformer.hidden_size);
  const double qf_flops = 2 * nq * st.qformer.params + 2 * n_img * st.qformer.img_params +
                          4 * nq * (nq + n_img) * qf_d * c.qformer.num_layers;
  const double inner = static_cast<double>(c.text.num_heads * c.text.d_kv);
  const double enc_flops = 2 * enc_len * st.encoder.params + 4 * enc_len * enc_len * inner * c.text.num_layers;
  const double cross_kv_bytes = 2.0 * c.text.num_decoder_layers * enc_len * inner * 4;
  const double step_bytes = static_cast<double>(st.decoder_step.bytes + st.head.bytes) + cross_kv_bytes;
  const double peak_for = [&] {
    const std::string& t = st.vision.dtype;
    return (t == "f32" || t == "f16") ? f32_peak : i8_peak;
  }();
  auto bound_ms = [&](double flops, double bytes, double peak) {
    double b = 0;
    if (peak > 0) b = std::max(b, flops / (peak * 1e9) * 1e3);
    if (bw > 0) b = std::max(b, bytes / (bw * 1e9) * 1e3);
    return b;
  };
  struct Row {
    std::string name;
    double ms, bound;
    std::string note;
  };
  const double pre = median(stage["preprocess"]) + median(stage["decode"]);
  std::vector<Row> rows = {
      {"preprocess", pre, 0, image.empty() ? "synthetic 640x480 RGB (resize + normalize)" : "decode + resize + normalize"},
      {"vision", median(stage["vision"]), bound_ms(vit_flops, st.vision.bytes, peak_for),
       fmt(vit_flops * 1e-9) + " GFLOP, " + st.vision.dtype},
      {"qformer", median(stage["qformer"]), bound_ms(qf_flops, st.qformer.bytes, peak_for),
       fmt(qf_flops * 1e-9) + " GFLOP, " + st.qformer.dtype},
      {"projection", median(stage["projection"]), bound_ms(2 * nq * st.proj.params, st.proj.bytes, peak_for), ""},
      {"encoder", G.encoder, bound_ms(enc_flops, st.encoder.bytes, i8_peak),
       fmt(enc_flops * 1e-9) + " GFLOP, " + std::to_string(static_cast<int>(enc_len)) + " tokens, " + st.encoder.dtype},
      {"decoder first step", G.first_ms, bound_ms(0, step_bytes + st.cross_kv.bytes, 0),
       "cross-attention K/V + step 1"},
      {"decode / token (greedy)", G.per_token_ms, bound_ms(0, step_bytes, 0),
       fmt(step_bytes * 1e-6, 0) + " MB read per step, " + st.decoder_step.dtype + " / head " + st.head.dtype},
  };
  if (beams > 1)
    rows.push_back({"decode / step (beam " + std::to_string(beams) + ")", B.per_token_ms, bound_ms(0, step_bytes, 0),
                    std::to_string(beams) + " rows per weight pass"});
  struct StageOther {
    std::string name;
    double stage_ms, ops_ms;
  };
  std::vector<StageOther> stage_other;
  for (const auto& sn : {std::make_pair(std::string("vision"), median(stage["vision"])),
                         std::make_pair(std::string("encoder"), G.encoder)}) {
    double sum = 0;
    bool any = false;
    for (const OpTiming& t : ops)
      if (t.stage == sn.first) sum += t.ms * t.per_image, any = true;
    if (any) stage_other.push_back({sn.first, sn.second, sum});
  }
  const double caption_ms = pre + median(stage["vision"]) + median(stage["qformer"]) + median(stage["projection"]) +
                            G.total;

  if (json) {
    nlohmann::ordered_json j;
    j["model"] = model_path;
    j["file_bytes"] = st.file_bytes;
    j["threads"] = pool_threads;
    j["loadavg_before"] = load_before;
    j["loadavg_after"] = load_after;
    j["load_ms"] = load_ms;
    j["rss_after_load_bytes"] = rss_after_load;
    j["weight_cache_mapped_bytes"] = cache_map.mapped_bytes;
    j["weight_cache_huge_page_bytes"] = cache_map.huge_page_bytes;
    j["peak_rss_bytes"] = peak_rss;
    j["tokens"] = G.tokens;
    j["runs"] = runs;
    j["caption_greedy_ms"] = caption_ms;
    j["first_caption_greedy_ms"] = first_caption_ms;
    j["greedy_tokens_per_s"] = G.per_token_ms > 0 ? 1000.0 / G.per_token_ms : 0;
    if (beams > 1) j["beam_steps_per_s"] = B.per_token_ms > 0 ? 1000.0 / B.per_token_ms : 0;
    nlohmann::ordered_json stages = nlohmann::ordered_json::array();
    for (const Row& r : rows)
      stages.push_back({{"stage", r.name}, {"ms", r.ms}, {"lower_bound_ms", r.bound},
                        {"bound_over_measured", r.ms > 0 ? r.bound / r.ms : 0}, {"note", r.note}});
    j["stages"] = stages;
    if (probes) {
      j["read_bandwidth_gbs"] = bw;
      j["fp32_peak_gflops"] = f32_peak;
      j["int8_gemm_peak_gflops"] = i8_peak;
      j["vit_shape_gemm_gflops"] = vit_gemm;
      j["vision_achieved_gflops"] = rows[1].ms > 0 ? vit_flops / rows[1].ms * 1e-6 : 0;
      j["decode_achieved_gbs"] = G.per_token_ms > 0 ? step_bytes / G.per_token_ms * 1e-6 : 0;
      nlohmann::ordered_json o = nlohmann::ordered_json::array();
      for (const OpTiming& t : ops)
        o.push_back({{"op", t.name}, {"ms", t.ms}, {"calls_per_caption", t.per_image},
                     {"ms_per_caption", t.ms * t.per_image}, {"stage", t.stage}});
      j["ops"] = o;
      nlohmann::ordered_json so = nlohmann::ordered_json::object();
      for (const auto& x : stage_other) so[x.name] = {{"stage_ms", x.stage_ms}, {"ops_ms", x.ops_ms}, {"other_ms", x.stage_ms - x.ops_ms}};
      j["other"] = so;
      for (const auto& [key, prof] : {std::make_pair("vision_profile", &vision_profile),
                                       std::make_pair("encoder_profile", &encoder_profile)}) {
        nlohmann::ordered_json pj = nlohmann::ordered_json::array();
        for (const auto& [op, ms] : *prof) pj.push_back({{"op", op}, {"ms", ms}});
        j[key] = pj;
      }
    }
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "mblip bench: " << model_path << " (" << fmt(st.file_bytes / 1e6, 0) << " MB), " << pool_threads
            << " thread(s), " << G.tokens << " tokens\n"
            << "load average before " << load_before << ", after " << load_after << "\n"
            << "load " << fmt(load_ms, 0) << " ms; RSS after load " << fmt(rss_after_load / 1e6, 0)
            << " MB; peak RSS " << fmt(peak_rss / 1e6, 0) << " MB (file + " << fmt((double(peak_rss) - double(st.file_bytes)) / 1e6, 0)
            << " MB)\n";
  if (cache_map.files > 0)
    std::cout << "weight cache: " << fmt(cache_map.mapped_bytes / 1e6, 0) << " MB mapped, "
              << fmt(cache_map.huge_page_bytes / 1e6, 0) << " MB of it with 2 MiB pages"
              << (cache_map.mostly_small_pages()
                      ? " (the page cache holds it in small pages: `mblip cache clear` and a reload make it huge: captions about 15% faster here)"
                      : "")
              << "\n";
  if (probes)
    std::cout << "machine: read bandwidth " << fmt(bw) << " GB/s (" << bw_d << ")\n"
              << "         fp32 peak " << fmt(f32_peak) << " GFLOP/s (" << f32_d << ")\n"
              << "         int8 GEMM peak " << fmt(i8_peak) << " GFLOP/s (" << i8_d << ")\n"
              << "         ViT-shape GEMM " << fmt(vit_gemm) << " GFLOP/s (" << vit_d << ") = "
              << fmt(i8_peak > 0 ? 100 * vit_gemm / i8_peak : 0, 0) << "% of int8 peak\n";
  std::cout << "\n" << std::left << std::setw(26) << "stage" << std::right << std::setw(11) << "ms" << std::setw(13)
            << "bound ms" << std::setw(9) << "bound/ms" << "  note\n";
  for (const Row& r : rows)
    std::cout << std::left << std::setw(26) << r.name << std::right << std::setw(11) << fmt(r.ms) << std::setw(13)
              << fmt(r.bound) << std::setw(8) << fmt(r.ms > 0 ? 100 * r.bound / r.ms : 0, 0) << "%  " << r.note << "\n";
  std::cout << "\ncaption (image stages + tokenize/encoder/" << G.tokens << " greedy tokens): " << fmt(caption_ms, 0)
            << " ms; greedy " << fmt(G.per_token_ms > 0 ? 1000 / G.per_token_ms : 0, 2) << " tokens/s";
  if (beams > 1) std::cout << "; beam " << beams << " " << fmt(B.per_token_ms > 0 ? 1000 / B.per_token_ms : 0, 2) << " steps/s";
  std::cout << "\n";
  if (runs > 1)
    std::cout << "table: median of captions 2.." << runs << " of one session; the first (cold) caption took "
              << fmt(first_caption_ms, 0) << " ms\n";
  if (probes) {
    std::cout << "vision achieved " << fmt(rows[1].ms > 0 ? vit_flops / rows[1].ms * 1e-6 : 0) << " GFLOP/s ("
              << fmt(i8_peak > 0 && rows[1].ms > 0 ? 100 * vit_flops / rows[1].ms * 1e-6 / i8_peak : 0, 0)
              << "% of int8 peak); decode achieved "
              << fmt(G.per_token_ms > 0 ? step_bytes / G.per_token_ms * 1e-6 : 0) << " GB/s ("
              << fmt(bw > 0 && G.per_token_ms > 0 ? 100 * step_bytes / G.per_token_ms * 1e-6 / bw : 0, 0)
              << "% of read bandwidth)\n\nops at model shapes (median of one call; x calls per caption):\n";
    for (const OpTiming& t : ops)
      std::cout << "  " << std::left << std::setw(44) << t.name << std::right << std::setw(9) << fmt(t.ms, 3)
                << " ms x " << std::setw(4) << t.per_image << " = " << std::setw(8) << fmt(t.ms * t.per_image, 1)
                << " ms\n";
    // What the ops above do not explain: stage time minus the sum of its ops.
    for (const auto& so : stage_other)
      std::cout << "  " << std::left << std::setw(44) << (so.name + " other (stage - ops above)") << std::right
                << std::setw(24) << fmt(so.stage_ms - so.ops_ms, 1) << " ms (" << fmt(so.stage_ms, 1) << " - "
                << fmt(so.ops_ms, 1) << ")\n";
    // Each op's time inside one more run of the stage beside its time alone x calls.
    for (const auto& [stage, prof] : {std::make_pair(std::string("vision"), &vision_profile),
                                      std::make_pair(std::string("encoder"), &encoder_profile)}) {
      if (prof->empty()) continue;
      std::cout << "\n" << stage
                << " stage where it runs (one more run, each op timed in place; alone = the table above):\n";
      double sum = 0;
      const double stage_ms = prof->back().second;
      for (size_t i = 0; i + 1 < prof->size(); ++i) {
        const auto& [op, ms] = (*prof)[i];
        sum += ms;
        std::string alone = "-";
        for (const OpTiming& t : ops)
          if (t.stage == stage && t.name.compare(0, op.size(), op) == 0) alone = fmt(t.ms * t.per_image, 1);
        std::cout << "  " << std::left << std::setw(44) << op << std::right << std::setw(9) << fmt(ms, 1)
                  << " ms   alone " << std::setw(7) << alone << " ms\n";
      }
      std::cout << "  " << std::left << std::setw(44) << "other (stage - ops in place)" << std::right << std::setw(9)
                << fmt(stage_ms - sum, 1) << " ms   (stage " << fmt(stage_ms, 1) << " ms)\n";
    }
  }
  return kExitOk;
}

}  // namespace mblip_cli
