// `mblip tokenize | detokenize | preprocess | info`: inspection commands on a model file opened
// for its metadata only (mblip::ModelFile: config, tokenizer, tensor table; no weights read).
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "mblip/mblip.h"

namespace mblip_cli {

namespace {

using mblip::Result;

Result<std::string> read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return mblip::io_error("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) return mblip::io_error("cannot read '" + path + "'");
  return ss.str();
}

Result<std::unique_ptr<mblip::ModelFile>> load_tokenizer(const std::string& model, const std::string& spm) {
  if (!spm.empty()) return mblip::ModelFile::open_tokenizer(spm);
  return mblip::ModelFile::open(model);
}

// Common "-m MODEL | --tokenizer FILE" parsing; returns -1 to continue, else an exit code.
int parse_tok_args(const std::string& cmd, const char* help, Args& args, std::string* model, std::string* spm,
                   bool* json, std::vector<std::string>* positional) {
  while (!args.done()) {
    if (args.flag({"-h", "--help"})) {
      std::cout << help;
      return kExitOk;
    } else if (args.option({"-m", "--model"}, model) || args.option({"--tokenizer"}, spm)) {
    } else if (args.flag({"--json"})) {
      *json = true;
    } else if (args.flag({"--"})) {
      while (!args.done()) positional->push_back(args.next());
    } else if (args.peek().size() > 1 && args.peek()[0] == '-' && !std::isdigit(static_cast<unsigned char>(args.peek()[1]))) {
      return fail(cmd, "unknown option '" + args.peek() + "'", kExitUsage);
    } else {
      positional->push_back(args.next());
    }
    if (!args.error().empty()) return fail(cmd, args.error(), kExitUsage);
  }
  if (model->empty() == spm->empty()) return fail(cmd, "give exactly one of -m MODEL.gguf or --tokenizer spiece.model", kExitUsage);
  return -1;
}

nlohmann::json shape_json(const std::vector<int64_t>& s) { return nlohmann::json(s); }

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

int cmd_tokenize(Args& args) {
  const char* help =
      "Usage: mblip tokenize (-m MODEL.gguf | --tokenizer spiece.model) [--json] TEXT\n"
      "Prints the sentencepiece ids and pieces of TEXT (no eos appended).\n";
  std::string model, spm;
  bool json = false;
  std::vector<std::string> pos;
  if (int rc = parse_tok_args("tokenize", help, args, &model, &spm, &json, &pos); rc >= 0) return rc;
  if (pos.size() != 1) return fail("tokenize", "expected exactly one TEXT argument, got " + std::to_string(pos.size()), kExitUsage);
  auto tok = load_tokenizer(model, spm);
  if (!tok.ok()) return fail("tokenize", tok.status());
  auto ids = tok.value()->tokenize(pos[0]);
  if (!ids.ok()) return fail("tokenize", ids.status());
  auto pr = tok.value()->token_pieces(ids.value());
  if (!pr.ok()) return fail("tokenize", pr.status());
  const std::vector<std::string>& pieces = pr.value();
  if (json) {
    nlohmann::json o;
    o["text"] = pos[0];
    o["ids"] = ids.value();
    o["pieces"] = pieces;
    std::cout << o.dump() << "\n";
  } else {
    std::cout << "ids:";
    for (int32_t id : ids.value()) std::cout << " " << id;
    std::cout << "\npieces:";
    for (const auto& p : pieces) std::cout << " " << p;
    std::cout << "\n";
  }
  return kExitOk;
}

int cmd_detokenize(Args& args) {
  const char* help =
      "Usage: mblip detokenize (-m MODEL.gguf | --tokenizer spiece.model) [--json] ID...\n"
      "Decodes token ids as transformers' T5Tokenizer.decode(skip_special_tokens=True).\n";
  std::string model, spm;
  bool json = false;
  std::vector<std::string> pos;
  if (int rc = parse_tok_args("detokenize", help, args, &model, &spm, &json, &pos); rc >= 0) return rc;
  std::vector<int32_t> ids;
  for (const std::string& p : pos) {
    // accept "1 2 3", "1,2,3" and "[1, 2, 3]"
    std::string s = p;
    for (char& c : s)
      if (c == ',' || c == '[' || c == ']') c = ' ';
    std::istringstream in(s);
    std::string w;
    while (in >> w) {
      long long v = 0;
      if (!parse_int(w, 0, INT32_MAX, &v)) return fail("detokenize", "'" + w + "' is not a token id", kExitUsage);
      ids.push_back(static_cast<int32_t>(v));
    }
  }
  if (ids.empty()) return fail("detokenize", "no token ids given", kExitUsage);
  auto tok = load_tokenizer(model, spm);
  if (!tok.ok()) return fail("detokenize", tok.status());
  auto text = tok.value()->detokenize(ids);
  if (!text.ok()) return fail("detokenize", text.status());
  if (json) {
    std::cout << nlohmann::json({{"ids", ids}, {"text", text.value()}}).dump() << "\n";
  } else {
    std::cout << text.value() << "\n";
  }
  return kExitOk;
}

int cmd_preprocess(Args& args) {
  const char* help =
      "Usage: mblip preprocess -m MODEL.gguf IMAGE --npy OUT.npy [--no-exif]\n"
      "Writes the model input for IMAGE (decode, resize, normalise as BlipImageProcessor) as a\n"
      "float32 .npy of shape (1, 3, H, W).\n";
  std::string model, out, image;
  bool exif = true;
  while (!args.done()) {
    if (args.flag({"-h", "--help"})) {
      std::cout << help;
      return kExitOk;
    } else if (args.option({"-m", "--model"}, &model) || args.option({"--npy"}, &out)) {
    } else if (args.flag({"--no-exif"})) {
      exif = false;
    } else if (args.peek().size() > 1 && args.peek()[0] == '-') {
      return fail("preprocess", "unknown option '" + args.peek() + "'", kExitUsage);
    } else if (image.empty()) {
      image = args.next();
    } else {
      return fail("preprocess", "expected one IMAGE, got another: '" + args.peek() + "'", kExitUsage);
    }
    if (!args.error().empty()) return fail("preprocess", args.error(), kExitUsage);
  }
  if (model.empty() || image.empty() || out.empty())
    return fail("preprocess", "need -m MODEL.gguf, IMAGE and --npy OUT.npy", kExitUsage);
  auto file = mblip::ModelFile::open(model);
  if (!file.ok()) return fail("preprocess", file.status());
  auto bytes = read_whole_file(image);
  if (!bytes.ok()) return fail("preprocess", bytes.status());
  mblip::DecodeOptions d;
  d.apply_exif = exif;
  auto px = file.value()->preprocess(reinterpret_cast<const uint8_t*>(bytes.value().data()), bytes.value().size(), d);
  if (!px.ok()) return fail("preprocess", px.status().with_context(image));
  const int64_t h = px.value().height, w = px.value().width;
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, " + std::to_string(h) + ", " +
                       std::to_string(w) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(out, std::ios::binary);
  if (!f) return fail("preprocess", "cannot write '" + out + "'");
  const uint16_t hl = static_cast<uint16_t>(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(static_cast<char>(hl & 0xff));
  f.put(static_cast<char>(hl >> 8));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(px.value().data.data()), static_cast<std::streamsize>(px.value().data.size() * sizeof(float)));
  if (!f.good()) return fail("preprocess", "write to '" + out + "' failed");
  return kExitOk;
}

int cmd_info(Args& args) {
  const char* help =
      "Usage: mblip info MODEL.gguf [--json]\n"
      "Architecture, hyperparameters and every tensor (GGUF name, Hugging Face name, type, shape\n"
      "in HF order, bytes) with totals per component.\n";
  std::string path;
  bool json = false;
  while (!args.done()) {
    if (args.flag({"-h", "--help"})) {
      std::cout << help;
      return kExitOk;
    } else if (args.flag({"--json"})) {
      json = true;
    } else if (args.option({"-m", "--model"}, &path)) {
    } else if (args.peek().size() > 1 && args.peek()[0] == '-') {
      return fail("info", "unknown option '" + args.peek() + "'", kExitUsage);
    } else if (path.empty()) {
      path = args.next();
    } else {
      return fail("info", "expected one MODEL.gguf", kExitUsage);
    }
    if (!args.error().empty()) return fail("info", args.error(), kExitUsage);
  }
  if (path.empty()) return fail("info", "missing MODEL.gguf", kExitUsage);
  auto file = mblip::ModelFile::open(path);
  if (!file.ok()) return fail("info", file.status());
  const mblip::ModelInfo& info = file.value()->info();
  const nlohmann::json cfg = nlohmann::json::parse(file.value()->config_json());

  nlohmann::json o;
  o["file"] = path;
  o["gguf_version"] = file.value()->gguf_version();
  o["architecture"] = info.architecture;
  o["name"] = info.name;
  o["random_weights"] = info.random_weights;
  for (const char* k : {"vision", "qformer", "num_query_tokens", "text", "image"}) o[k] = cfg.at(k);
  nlohmann::json tensors = nlohmann::json::array();
  std::map<std::string, std::pair<uint64_t, uint64_t>> totals;  // component -> (bytes, params)
  uint64_t total_bytes = 0, total_params = 0;
  for (const mblip::TensorEntry& t : file.value()->tensors()) {
    uint64_t params = 1;
    for (int64_t d : t.shape) params *= static_cast<uint64_t>(d);
    tensors.push_back({{"name", t.name}, {"hf_name", t.hf_name}, {"type", t.type}, {"shape", shape_json(t.shape)},
                       {"bytes", t.bytes}, {"component", t.component}});
    totals[t.component].first += t.bytes;
    totals[t.component].second += params;
    total_bytes += t.bytes;
    total_params += params;
  }
  o["tensors"] = tensors;
  nlohmann::json comps = nlohmann::json::object();
  for (const auto& kv : totals) comps[kv.first] = {{"bytes", kv.second.first}, {"params", kv.second.second}};
  o["components"] = comps;
  o["total"] = {{"bytes", total_bytes}, {"params", total_params}, {"tensors", tensors.size()}};

  if (json) {
    std::cout << o.dump(1) << "\n";
    return kExitOk;
  }
  std::cout << "file          " << path << " (GGUF v" << file.value()->gguf_version() << ")\n"
            << "architecture  " << info.architecture << (info.name.empty() ? "" : "  name " + info.name)
            << (info.random_weights ? "  [random weights]" : "") << "\n"
            << "vision        " << o["vision"].dump() << "\n"
            << "qformer       " << o["qformer"].dump() << "  queries " << info.num_query_tokens << "\n"
            << "text          " << o["text"].dump() << "\n"
            << "image         " << o["image"].dump() << "\n\n";
  for (const auto& t : tensors) {
    std::cout << t["name"].get<std::string>() << "\t" << t["hf_name"].get<std::string>() << "\t"
              << t["type"].get<std::string>() << "\t" << shape_text(t["shape"].get<std::vector<int64_t>>())
              << "\t" << t["bytes"].get<uint64_t>() << "\n";
  }
  std::cout << "\ncomponent       params        bytes\n";
  for (const auto& kv : totals)
    std::cout << kv.first << "\t" << kv.second.second << "\t" << kv.second.first << "\n";
  std::cout << "total\t" << total_params << "\t" << total_bytes << "  (" << tensors.size() << " tensors)\n";
  return kExitOk;
}

}  // namespace mblip_cli
