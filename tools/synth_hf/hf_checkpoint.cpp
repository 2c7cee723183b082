// Synthetic Hugging Face checkpoint writer: side files, shard plan, and the two weight formats
// (torch.save zip .bin via ZipWriter, safetensors), values from synth/synth_fill.h.
#include "hf_checkpoint.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "hf_json.h"
#include "model/tensor_names.h"
#include "synth/spm_writer.h"
#include "synth/synth_fill.h"
#include "torch_zip_writer.h"

namespace mblip {

namespace {

constexpr int64_t kChunkFloats = 4 << 20;  // values generated and written at a time (16 MB)
const char* const kSharedName = "language_model.shared.weight";
// T5's encoder/decoder embed_tokens are the shared embedding; a torch state dict lists them as
// aliases of the same storage (safetensors drops them).
const char* const kTiedAliases[] = {"language_model.encoder.embed_tokens.weight",
                                    "language_model.decoder.embed_tokens.weight"};

using ValueSink = std::function<Status(const float* values, size_t n)>;

// Generates tensor `t`'s values a block of rows at a time (see synthetic_tensor_values).
Status stream_values(const ExpectedTensor& t, uint64_t seed, const synth::OutlierPlan& plan, std::vector<float>& buf,
                     const ValueSink& sink) {
  const int64_t cols = t.shape.back();
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < t.shape.size(); ++i) rows *= t.shape[i];
  const int64_t step = std::max<int64_t>(1, kChunkFloats / cols);
  const bool qkv_bias = synth::ends_with(t.name, ".qkv.b");
  synth::Rng rng{synth::hash_name(t.name, seed)};
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    const int64_t n = std::min(step, rows - r0);
    buf.resize(static_cast<size_t>(n * cols));
    for (int64_t r = 0; r < n; ++r) synth::fill_row(t, rng, buf.data() + r * cols, cols);
    if (qkv_bias) {  // [q_bias, zeros, v_bias]
      const int64_t d = cols / 3;
      std::fill(buf.begin() + d, buf.begin() + 2 * d, 0.f);
    }
    if (!plan.empty())
      for (int64_t r = 0; r < n; ++r) plan.apply(t.name, r0 + r, buf.data() + r * cols, cols);
    MBLIP_RETURN_IF_ERROR(sink(buf.data(), buf.size()));
  }
  return Status::Ok();
}

uint64_t tensor_bytes(const ExpectedTensor& t) {
  uint64_t n = 4;
  for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::string shard_name(const std::string& format, int k, int n) {
  if (n == 1) return format == "bin" ? "pytorch_model.bin" : "model.safetensors";
  char b[64];
  std::snprintf(b, sizeof(b), format == "bin" ? "pytorch_model-%05d-of-%05d.bin" : "model-%05d-of-%05d.safetensors",
                k + 1, n);
  return b;
}

// A file written as path.tmp and renamed when complete (removed if never committed).
class OutFile {
 public:
  explicit OutFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {}
  ~OutFile() {
    if (f_) std::fclose(f_);
    if (!done_) std::remove(tmp_.c_str());
  }
  Status open() {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) return io_error("cannot create '" + tmp_ + "': " + std::strerror(errno));
    return Status::Ok();
  }
  Status write(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) return io_error("writing '" + tmp_ + "' failed: " + std::strerror(errno));
    return Status::Ok();
  }
  Status commit() {
    FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) return io_error("closing '" + tmp_ + "' failed: " + std::strerror(errno));
    return rename_tmp();
  }
  Status rename_tmp() {
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
      return io_error("renaming '" + tmp_ + "' to '" + path_ + "' failed: " + std::strerror(errno));
    done_ = true;
    return Status::Ok();
  }
  const std::string& tmp_path() const { return tmp_; }

 private:
  std::string path_, tmp_;
  FILE* f_ = nullptr;
  bool done_ = false;
};

Status write_text(const std::string& path, const std::string& text) {
  OutFile f(path);
  MBLIP_RETURN_IF_ERROR(f.open());
  MBLIP_RETURN_IF_ERROR(f.write(text.data(), text.size()));
  return f.commit();
}

struct Writer {
  Writer(const SynthHfOptions& o, size_t n, synth::OutlierPlan p) : opts(o), plan(std::move(p)), total(n) {}
  const SynthHfOptions& opts;
  synth::OutlierPlan plan;
  size_t done = 0, total = 0;
  uint64_t bytes = 0;
  std::vector<float> buf;

  void tensor_done(uint64_t n) {
    ++done;
    bytes += n;
    if (opts.progress) opts.progress(done, total, bytes);
  }

  // torch.save zip: <stem>/data.pkl, <stem>/byteorder, <stem>/data/<key>..., <stem>/version.
  Status bin_shard(const std::string& path, const std::string& file, const std::vector<const ExpectedTensor*>& ts) {
    const std::string prefix = file.substr(0, file.size() - 4) + "/";
    std::vector<PickleTensor> pt;
    for (size_t k = 0; k < ts.size(); ++k) {
      pt.push_back({ts[k]->hf_name, std::to_string(k), ts[k]->shape});
      if (ts[k]->hf_name == kSharedName)
        for (const char* alias : kTiedAliases) pt.push_back({alias, std::to_string(k), ts[k]->shape});
    }
    OutFile out(path);  // ZipWriter writes the tmp file; OutFile renames or removes it
    ZipWriter z;
    MBLIP_RETURN_IF_ERROR(z.open(out.tmp_path()));
    MBLIP_RETURN_IF_ERROR(z.add_entry(prefix + "data.pkl", torch_state_dict_pickle(pt)));
    MBLIP_RETURN_IF_ERROR(z.add_entry(prefix + "byteorder", "little"));
    for (size_t k = 0; k < ts.size(); ++k) {
      MBLIP_RETURN_IF_ERROR(z.begin_entry(prefix + "data/" + std::to_string(k), tensor_bytes(*ts[k])));
      MBLIP_RETURN_IF_ERROR(stream_values(*ts[k], opts.seed, plan, buf, [&](const float* v, size_t n) {
        return z.write(v, n * sizeof(float));
      }));
      MBLIP_RETURN_IF_ERROR(z.end_entry());
      tensor_done(tensor_bytes(*ts[k]));
    }
    MBLIP_RETURN_IF_ERROR(z.add_entry(prefix + "version", "3\n"));
    MBLIP_RETURN_IF_ERROR(z.finish());
    return out.rename_tmp();
  }

  // safetensors: u64 header length, JSON header (keys sorted, padded with spaces to 8 bytes),
  // data in header order.
  Status st_shard(const std::string& path, std::vector<const ExpectedTensor*> ts) {
    std::sort(ts.begin(), ts.end(), [](const ExpectedTensor* a, const ExpectedTensor* b) { return a->hf_name < b->hf_name; });
    nlohmann::json h = nlohmann::json::object();
    h["__metadata__"] = {{"format", "pt"}};
    uint64_t off = 0;
    for (const ExpectedTensor* t : ts) {
      const uint64_t n = tensor_bytes(*t);
      h[t->hf_name] = {{"dtype", "F32"}, {"shape", t->shape}, {"data_offsets", {off, off + n}}};
      off += n;
    }
    std::string header = h.dump();
    header.append((8 - header.size() % 8) % 8, ' ');
    std::string len(8, '\0');
    for (int i = 0; i < 8; ++i) len[static_cast<size_t>(i)] = static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xFF);
    OutFile out(path);
    MBLIP_RETURN_IF_ERROR(out.open());
    MBLIP_RETURN_IF_ERROR(out.write(len.data(), 8));
    MBLIP_RETURN_IF_ERROR(out.write(header.data(), header.size()));
    for (const ExpectedTensor* t : ts) {
      MBLIP_RETURN_IF_ERROR(stream_values(*t, opts.seed, plan, buf, [&](const float* v, size_t n) {
        return out.write(v, n * sizeof(float));
      }));
      tensor_done(tensor_bytes(*t));
    }
    return out.commit();
  }
};

}  // namespace

std::vector<float> synthetic_tensor_values(const ModelConfig& cfg, const std::string& gguf_name, uint64_t seed,
                                           const synth::OutlierOptions& outliers) {
  std::vector<float> out, buf;
  const synth::OutlierPlan plan = synth::OutlierPlan::make(cfg, seed, outliers);
  for (const auto& t : expected_tensors(cfg))
    if (t.name == gguf_name) {
      Status st = stream_values(t, seed, plan, buf, [&](const float* v, size_t n) {
        out.insert(out.end(), v, v + n);
        return Status::Ok();
      });
      (void)st;  // the sink never fails
    }
  return out;
}

Status write_synthetic_hf_checkpoint(const SynthHfOptions& opts) {
  ModelConfig cfg;
  if (!synth::preset_config(opts.preset, cfg))
    return invalid_argument("unknown preset '" + opts.preset + "' (expected full, mini or tiny)");
  if (opts.outliers.channels > 0) cfg.name += "-outliers";
  return write_synthetic_hf_checkpoint(cfg, opts);
}

Status write_synthetic_hf_checkpoint(const ModelConfig& cfg, const SynthHfOptions& opts) {
  if (opts.out_dir.empty()) return invalid_argument("no output directory given");
  if (opts.format != "bin" && opts.format != "safetensors")
    return invalid_argument("unknown weights format '" + opts.format + "' (expected bin or safetensors)");
  MBLIP_RETURN_IF_ERROR(cfg.validate());
  const std::vector<ExpectedTensor> tensors = expected_tensors(cfg);
  if (opts.shards < 1 || static_cast<size_t>(opts.shards) > tensors.size())
    return invalid_argument("--shards must be 1.." + std::to_string(tensors.size()) + " (got " +
                            std::to_string(opts.shards) + ")");
  if (::mkdir(opts.out_dir.c_str(), 0755) != 0 && errno != EEXIST)
    return io_error("cannot create '" + opts.out_dir + "': " + std::strerror(errno));
  const std::string dir = opts.out_dir + "/";
  for (const char* stale : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                            "pytorch_model.bin.index.json"})
    std::remove((dir + stale).c_str());

  MBLIP_RETURN_IF_ERROR(write_text(dir + "config.json", hf_config_json(cfg)));
  MBLIP_RETURN_IF_ERROR(write_text(dir + "preprocessor_config.json", hf_preprocessor_config_json(cfg)));
  MBLIP_RETURN_IF_ERROR(write_text(dir + "generation_config.json", hf_generation_config_json(cfg)));
  MBLIP_RETURN_IF_ERROR(write_text(dir + "tokenizer_config.json", hf_tokenizer_config_json()));
  MBLIP_RETURN_IF_ERROR(write_text(dir + "special_tokens_map.json", hf_special_tokens_map_json()));
  MBLIP_RETURN_IF_ERROR(write_text(dir + "spiece.model", make_synthetic_spm_model(cfg.text.vocab_size, opts.seed)));

  // Shard plan: a tensor goes to the shard its first byte falls in (in state-dict order), so
  // shards are contiguous and about equal; empty shards are dropped.
  uint64_t total = 0;
  for (const auto& t : tensors) total += tensor_bytes(t);
  std::vector<std::vector<const ExpectedTensor*>> shards(static_cast<size_t>(opts.shards));
  uint64_t start = 0;
  for (const auto& t : tensors) {
    const size_t k = std::min<size_t>(shards.size() - 1, static_cast<size_t>(
        static_cast<long double>(start) * opts.shards / static_cast<long double>(total)));
    shards[k].push_back(&t);
    start += tensor_bytes(t);
  }
  shards.erase(std::remove_if(shards.begin(), shards.end(), [](const auto& s) { return s.empty(); }), shards.end());
  const int n = static_cast<int>(shards.size());

  if (opts.outliers.channels < 0 || !(opts.outliers.min_factor > 0) || !(opts.outliers.max_factor >= opts.outliers.min_factor) ||
      !(opts.outliers.compensation >= 0.f && opts.outliers.compensation <= 1.f))
    return invalid_argument("outliers: need channels >= 0, 0 < min_factor <= max_factor and compensation in [0, 1]");
  Writer w(opts, tensors.size(), synth::OutlierPlan::make(cfg, opts.seed, opts.outliers));
  nlohmann::json weight_map = nlohmann::json::object();
  for (int k = 0; k < n; ++k) {
    const std::string file = shard_name(opts.format, k, n);
    for (const ExpectedTensor* t : shards[static_cast<size_t>(k)]) {
      weight_map[t->hf_name] = file;
      if (opts.format == "bin" && t->hf_name == kSharedName)
        for (const char* alias : kTiedAliases) weight_map[alias] = file;
    }
    Status st = opts.format == "bin" ? w.bin_shard(dir + file, file, shards[static_cast<size_t>(k)])
                                     : w.st_shard(dir + file, shards[static_cast<size_t>(k)]);
    if (!st.ok()) return st.with_context("writing '" + dir + file + "'");
  }
  if (n > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    const std::string name = opts.format == "bin" ? "pytorch_model.bin.index.json" : "model.safetensors.index.json";
    MBLIP_RETURN_IF_ERROR(write_text(dir + name, index.dump(2) + "\n"));
  }
  return Status::Ok();
}

}  // namespace mblip
