// Weight discovery for a checkpoint directory (single files and sharded *.index.json).
#include "checkpoint.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "safetensors.h"
#include "torch_bin.h"

namespace mblip {

namespace {

bool exists(const std::string& p) { return static_cast<bool>(std::ifstream(p, std::ios::binary)); }

Result<std::vector<SourceTensor>> list_file(const std::string& path, bool safetensors) {
  return safetensors ? read_safetensors_index(path) : read_torch_bin_index(path);
}

Status add_all(Checkpoint& ck, const std::string& path, bool safetensors) {
  MBLIP_ASSIGN_OR_RETURN(std::vector<SourceTensor> list, list_file(path, safetensors));
  ck.files.push_back(path);
  for (auto& t : list) ck.tensors[t.name] = std::move(t);
  return Status::Ok();
}

// transformers' sharded checkpoints: {"metadata": {...}, "weight_map": {name: shard file}}.
Status add_sharded(Checkpoint& ck, const std::string& dir, const std::string& index_path, bool safetensors) {
  std::ifstream f(index_path, std::ios::binary);
  if (!f) return io_error("cannot open '" + index_path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return model_load_error("'" + index_path + "' is not valid JSON");
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object() || wm->empty())
    return model_load_error("'" + index_path + "' has no 'weight_map' object");
  std::map<std::string, std::map<std::string, SourceTensor>> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string()) return model_load_error("'" + index_path + "': shard of '" + it.key() + "' is not a string");
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard[0] == '/' || shard.find("..") != std::string::npos)
      return model_load_error("'" + index_path + "': shard name '" + shard + "' is not a plain file name");
    auto s = shards.find(shard);
    if (s == shards.end()) {
      const std::string path = dir + "/" + shard;
      auto list = list_file(path, safetensors);
      if (!list.ok()) return list.status();
      ck.files.push_back(path);
      auto& m = shards[shard];
      for (auto& t : list.value()) m[t.name] = std::move(t);
      s = shards.find(shard);
    }
    auto t = s->second.find(it.key());
    if (t == s->second.end())
      return model_load_error("'" + index_path + "' places '" + it.key() + "' in '" + shard + "', which does not hold it");
    ck.tensors[it.key()] = t->second;
  }
  return Status::Ok();
}

}  // namespace

Result<Checkpoint> open_checkpoint(const std::string& dir, const std::string& format) {
  if (format != "auto" && format != "safetensors" && format != "bin")
    return invalid_argument("unknown weights format '" + format + "' (expected auto, safetensors or bin)");
  Checkpoint ck;
  const bool try_st = format != "bin", try_bin = format != "safetensors";
  if (try_st && exists(dir + "/model.safetensors")) {
    ck.format = "safetensors";
    MBLIP_RETURN_IF_ERROR(add_all(ck, dir + "/model.safetensors", true));
  } else if (try_st && exists(dir + "/model.safetensors.index.json")) {
    ck.format = "safetensors";
    MBLIP_RETURN_IF_ERROR(add_sharded(ck, dir, dir + "/model.safetensors.index.json", true));
  } else if (try_bin && exists(dir + "/pytorch_model.bin")) {
    ck.format = "bin";
    MBLIP_RETURN_IF_ERROR(add_all(ck, dir + "/pytorch_model.bin", false));
  } else if (try_bin && exists(dir + "/pytorch_model.bin.index.json")) {
    ck.format = "bin";
    MBLIP_RETURN_IF_ERROR(add_sharded(ck, dir, dir + "/pytorch_model.bin.index.json", false));
  } else {
    std::string expect = format == "bin" ? "pytorch_model.bin or pytorch_model.bin.index.json"
                         : format == "safetensors" ? "model.safetensors or model.safetensors.index.json"
                                                   : "model.safetensors, model.safetensors.index.json, pytorch_model.bin "
                                                     "or pytorch_model.bin.index.json";
    return io_error("no weights found in '" + dir + "' (expected " + expect + ")");
  }
  return ck;
}

}  // namespace mblip
