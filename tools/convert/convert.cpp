// convert_checkpoint: config + tokenizer + weights of a HF BLIP-2 (T5/mT5) checkpoint -> GGUF,
// streaming a block of rows at a time (read rows -> convert/quantize -> GgufWriter sink).
#include "convert.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "checkpoint.h"
#include "hf_config.h"
#include "io/gguf.h"
#include "io/quant.h"
#include "model/config.h"
#include "recipe.h"
#include "source_tensor.h"

namespace mblip {

namespace {

constexpr int64_t kChunkElems = 1 << 22;  // source elements read at a time (16 MB of f32)
constexpr uint64_t kMaxTokenizerBytes = 64ull << 20;

Result<std::vector<uint8_t>> read_tokenizer(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return io_error("cannot open '" + path + "' (the sentencepiece tokenizer model is required)");
  const std::streamoff n = f.tellg();
  if (n <= 0 || static_cast<uint64_t>(n) > kMaxTokenizerBytes)
    return tokenizer_error("'" + path + "' is empty or implausibly large");
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(bytes.data()), n);
  if (f.gcount() != n) return io_error("cannot read '" + path + "'");
  return bytes;
}

// HF names that are tied copies of a declared tensor (never stored twice), from the table.
bool is_tied_alias(const std::string& hf, const std::vector<ExpectedTensor>& expected) {
  for (const ExpectedTensor& e : expected)
    for (const std::string& a : e.hf_aliases)
      if (a == hf) return true;
  return false;
}

// Streams tensor `src` stored as `type` to `sink`, a block of at most kChunkElems source
// elements (16 MB of f32 rows) at a time: read -> convert/quantize -> sink. Memory: the float
// block, the reader's byte block and one converted block, whatever the tensor's size.
Status produce_tensor(TensorReader& reader, const SourceTensor& src, DType type, bool dequantized,
                      std::vector<float>& buf, std::vector<uint8_t>& out, const GgufWriter::Sink& sink) {
  const int64_t cols = src.cols(), rows = src.rows();
  if (dequantized && type != DType::F32) {
    // Round trip through the stored type; f32 bytes go out.
    MBLIP_ASSIGN_OR_RETURN(const size_t q_bytes, dtype_bytes(type, cols));
    std::vector<uint8_t> q(q_bytes);
    const int64_t step = std::max<int64_t>(1, kChunkElems / std::max<int64_t>(cols, 1));
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
      const int64_t n = std::min(step, rows - r0);
      buf.resize(static_cast<size_t>(n * cols));
      MBLIP_RETURN_IF_ERROR(reader.read_rows(src, r0, n, buf.data()));
      for (int64_t r = 0; r < n; ++r) {
        quantize_row_weights(type, buf.data() + r * cols, q.data(), cols);
        dequantize_row(type, q.data(), buf.data() + r * cols, cols);
      }
      MBLIP_RETURN_IF_ERROR(sink(reinterpret_cast<const uint8_t*>(buf.data()), buf.size() * sizeof(float)));
    }
    return Status::Ok();
  }
  MBLIP_ASSIGN_OR_RETURN(const size_t row_bytes, dtype_bytes(type, cols));
  const int64_t step = std::max<int64_t>(1, kChunkElems / std::max<int64_t>(cols, 1));
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    const int64_t n = std::min(step, rows - r0);
    buf.resize(static_cast<size_t>(n * cols));
    MBLIP_RETURN_IF_ERROR(reader.read_rows(src, r0, n, buf.data()));
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(buf.data());
    if (type != DType::F32) {
      out.resize(row_bytes * static_cast<size_t>(n));
      if (type == DType::F16) {
        for (size_t i = 0; i < buf.size(); ++i) {
          const uint16_t h = fp32_to_fp16(buf[i]);
          std::memcpy(out.data() + 2 * i, &h, 2);
        }
      } else {
        for (int64_t r = 0; r < n; ++r)  // Q4_0 scales by least squared error (io/quant.h)
          quantize_row_weights(type, buf.data() + r * cols, out.data() + r * row_bytes, cols);
      }
      bytes = out.data();
    }
    MBLIP_RETURN_IF_ERROR(sink(bytes, row_bytes * static_cast<size_t>(n)));
  }
  return Status::Ok();
}

bool file_exists(const std::string& p) { return static_cast<bool>(std::ifstream(p, std::ios::binary)); }

}  // namespace

void set_recipe(ConvertOptions& o, const Recipe& r) {
  o.weights = r.weights;
  o.overrides = r.overrides;
  o.tensor_rules = r.tensors;
}

Status convert_checkpoint(const ConvertOptions& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  auto log = [&](const std::string& m) { if (opts.log) opts.log(m); };
  if (opts.input_dir.empty()) return invalid_argument("no input checkpoint directory given");
  if (opts.output_path.empty()) return invalid_argument("no output path given");
  if (!opts.force && file_exists(opts.output_path))
    return invalid_argument("output '" + opts.output_path + "' already exists (use --force to overwrite)");

  MBLIP_ASSIGN_OR_RETURN(ModelConfig cfg, load_hf_config(opts.input_dir));
  {
    Status st = cfg.validate();
    if (!st.ok()) return st.with_context(opts.input_dir + "/config.json");
  }
  MBLIP_ASSIGN_OR_RETURN(std::vector<uint8_t> spm, read_tokenizer(opts.input_dir + "/spiece.model"));
  MBLIP_ASSIGN_OR_RETURN(Checkpoint ck, open_checkpoint(opts.input_dir, opts.source_format));

  // Validate: every expected tensor present with the HF shape; extras are only reported.
  const std::vector<ExpectedTensor> expected = expected_tensors(cfg);
  std::vector<const SourceTensor*> sources;
  std::vector<std::string> missing;
  std::set<std::string> used;
  for (const auto& e : expected) {
    auto it = ck.tensors.find(e.hf_name);
    if (it == ck.tensors.end()) {
      missing.push_back(e.hf_name);
      sources.push_back(nullptr);
      continue;
    }
    if (it->second.shape != e.shape)
      return model_load_error("tensor '" + e.hf_name + "' has shape " + shape_to_string(it->second.shape) +
                              ", expected " + shape_to_string(e.shape) + " for this config");
    used.insert(e.hf_name);
    sources.push_back(&it->second);
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 5) list += ", ...";
    return model_load_error(std::to_string(missing.size()) + " expected tensor(s) missing from the checkpoint: " + list);
  }
  for (const auto& kv : ck.tensors)
    if (!used.count(kv.first) && !is_tied_alias(kv.first, expected))
      log("warning: ignoring unknown tensor '" + kv.first + "' " + shape_to_string(kv.second.shape));

  // Declare metadata and tensors.
  GgufWriter writer;
  write_config(cfg, writer);
  writer.set("tokenizer.sentencepiece.model", GgufValue::make_u8_array(spm));
  std::vector<DType> types;
  std::map<std::string, size_t> counts;
  for (const auto& e : expected) {
    const RecipeChoice c = choose_type(e, opts.weights, opts.overrides, opts.tensor_rules);
    if (!c.note.empty()) log("note: " + c.note);
    types.push_back(c.type);
    counts[dtype_name(c.type)]++;
    Status st = writer.add_tensor(e.name, opts.store_dequantized ? DType::F32 : c.type, e.shape);
    if (!st.ok()) return st.with_context("tensor '" + e.name + "'");
  }
  Recipe recipe;
  recipe.weights = opts.weights;
  recipe.overrides = opts.overrides;
  recipe.tensors = opts.tensor_rules;
  writer.set("mblip.convert.recipe",
             GgufValue::make_string(recipe.describe() + (opts.store_dequantized ? " dequantized" : "")));

  // Stream tensors.
  TensorReader reader;
  std::vector<float> buf;
  std::vector<uint8_t> out;
  uint64_t written = 0;
  auto produce = [&](size_t i, const GgufWriter::Sink& sink) -> Status {
    if (i >= expected.size()) return internal_error("writer asked for tensor " + std::to_string(i));
    Status st = produce_tensor(reader, *sources[i], types[i], opts.store_dequantized, buf, out, sink);
    if (!st.ok()) return st.with_context("tensor '" + expected[i].hf_name + "'");
    written += writer.tensor_nbytes(i);
    if (opts.progress) opts.progress(i + 1, expected.size(), expected[i].name);
    if (opts.on_tensor) {
      ConvertProgress p;
      p.index = i + 1;
      p.total = expected.size();
      p.name = expected[i].name;
      p.type = types[i];
      p.bytes_written = written;
      p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      opts.on_tensor(p);
    }
    return Status::Ok();
  };
  Status st = writer.write_chunked(opts.output_path, produce);
  if (!st.ok()) return st.with_context("writing '" + opts.output_path + "'");
  std::ostringstream summary;
  summary << "wrote " << expected.size() << " tensors (";
  bool first = true;
  for (const auto& kv : counts) { summary << (first ? "" : ", ") << kv.second << " " << kv.first; first = false; }
  summary << ") from " << ck.format << " to '" << opts.output_path << "'";
  log(summary.str());
  return Status::Ok();
}

}  // namespace mblip
