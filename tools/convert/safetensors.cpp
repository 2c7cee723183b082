// safetensors header parsing and validation (spec: huggingface/safetensors README, "Format").
#include "safetensors.h"

#include <algorithm>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

namespace mblip {

namespace {

struct DtypeInfo {
  const char* name;
  size_t size;
  SrcDType type;
};

const DtypeInfo kDtypes[] = {
    {"F32", 4, SrcDType::F32},   {"F16", 2, SrcDType::F16},     {"BF16", 2, SrcDType::BF16},
    {"F64", 8, SrcDType::Other}, {"I64", 8, SrcDType::Other},   {"U64", 8, SrcDType::Other},
    {"I32", 4, SrcDType::Other}, {"U32", 4, SrcDType::Other},   {"I16", 2, SrcDType::Other},
    {"U16", 2, SrcDType::Other}, {"I8", 1, SrcDType::Other},    {"U8", 1, SrcDType::Other},
    {"BOOL", 1, SrcDType::Other}, {"F8_E4M3", 1, SrcDType::Other}, {"F8_E5M2", 1, SrcDType::Other},
};

constexpr uint64_t kMaxHeader = 100ull << 20;  // the spec caps headers at 100 MB

}  // namespace

Result<std::vector<SourceTensor>> read_safetensors_index(const std::string& path) {
  MBLIP_ASSIGN_OR_RETURN(const uint64_t fsize, file_size_of(path));
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open '" + path + "'");
  auto bad = [&](const std::string& m) { return model_load_error("corrupt safetensors file '" + path + "': " + m); };
  if (fsize < 8) return bad("file is shorter than the 8-byte header length");
  uint8_t lenb[8];
  MBLIP_RETURN_IF_ERROR(read_exact(f, path, 0, lenb, 8));
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | lenb[i];
  if (hlen > fsize - 8)
    return bad("header length " + std::to_string(hlen) + " runs past the end of the file (" + std::to_string(fsize) +
               " bytes)");
  if (hlen > kMaxHeader) return bad("header length " + std::to_string(hlen) + " exceeds 100 MB");
  std::string header(static_cast<size_t>(hlen), '\0');
  MBLIP_RETURN_IF_ERROR(read_exact(f, path, 8, header.data(), header.size()));
  nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("header is not valid JSON");
  if (!j.is_object()) return bad("header JSON is not an object");
  const uint64_t data_start = 8 + hlen, data_size = fsize - data_start;

  std::vector<SourceTensor> out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // (begin, end) relative, for the overlap check
  std::vector<std::string> range_names;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const nlohmann::json& e = it.value();
    if (!e.is_object()) return bad("entry '" + name + "' is not an object");
    auto dt = e.find("dtype");
    auto sh = e.find("shape");
    auto of = e.find("data_offsets");
    if (dt == e.end() || !dt->is_string()) return bad("entry '" + name + "' has no string 'dtype'");
    if (sh == e.end() || !sh->is_array()) return bad("entry '" + name + "' has no 'shape' array");
    if (of == e.end() || !of->is_array() || of->size() != 2) return bad("entry '" + name + "' needs 'data_offsets' [begin, end]");
    const std::string dts = dt->get<std::string>();
    const DtypeInfo* info = nullptr;
    for (const auto& d : kDtypes)
      if (dts == d.name) info = &d;
    if (!info) return bad("entry '" + name + "' has unknown dtype '" + dts + "'");
    SourceTensor t;
    t.name = name;
    t.file = path;
    t.dtype = info->type;
    t.dtype_name = dts;
    t.elem_size = info->size;
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) return bad("entry '" + name + "' has a non-integer or negative dimension");
      const uint64_t v = d.get<uint64_t>();
      if (v > (1ull << 40) || (v != 0 && numel > (1ull << 48) / v)) return bad("entry '" + name + "' has an absurd shape");
      numel *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    if (!(*of)[0].is_number_unsigned() || !(*of)[1].is_number_unsigned())
      return bad("entry '" + name + "' has non-integer data_offsets");
    const uint64_t b = (*of)[0].get<uint64_t>(), en = (*of)[1].get<uint64_t>();
    if (b > en) return bad("entry '" + name + "' has data_offsets begin " + std::to_string(b) + " > end " + std::to_string(en));
    if (en > data_size)
      return bad("entry '" + name + "' data_offsets [" + std::to_string(b) + ", " + std::to_string(en) +
                 "] are out of range (data section is " + std::to_string(data_size) + " bytes)");
    if (en - b != numel * info->size)
      return bad("entry '" + name + "' holds " + std::to_string(en - b) + " bytes but " + dts + " " +
                 shape_to_string(t.shape) + " needs " + std::to_string(numel * info->size));
    t.offset = data_start + b;
    ranges.push_back({b, en});
    range_names.push_back(name);
    out.push_back(std::move(t));
  }
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& prev = ranges[order[k - 1]];
    const auto& cur = ranges[order[k]];
    if (cur.first < prev.second && cur.first != cur.second && prev.first != prev.second)
      return bad("tensors '" + range_names[order[k - 1]] + "' and '" + range_names[order[k]] + "' overlap");
  }
  return out;
}

}  // namespace mblip
