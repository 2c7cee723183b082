// torch.save zip reader + safe pickle VM (protocol 2-4 subset) for state dicts of tensors.
// Mirrors what torch.serialization._load / persistent_load accept, without running Python.
#include "torch_bin.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <unordered_map>

namespace mblip {

namespace {

uint64_t le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

// ---- zip directory (APPNOTE.TXT 4.3.12 central directory, 4.3.14-16 zip64) ----

Result<std::vector<ZipEntry>> read_zip_directory(const std::string& path) {
  MBLIP_ASSIGN_OR_RETURN(const uint64_t fsize, file_size_of(path));
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open '" + path + "'");
  auto bad = [&](const std::string& m) {
    return model_load_error("'" + path + "' is not a readable PyTorch zip checkpoint: " + m);
  };
  if (fsize < 22) return bad("file too short for a zip archive");
  const uint64_t tail_len = std::min<uint64_t>(fsize, 22 + 65535 + 20);
  std::vector<uint8_t> tail(static_cast<size_t>(tail_len));
  MBLIP_RETURN_IF_ERROR(read_exact(f, path, fsize - tail_len, tail.data(), tail.size()));
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail_len) - 22; i >= 0; --i)
    if (le(&tail[static_cast<size_t>(i)], 4) == 0x06054b50) { eocd = i; break; }
  if (eocd < 0) return bad("no zip end-of-central-directory record (legacy non-zip torch.save files are not supported)");
  const uint8_t* e = &tail[static_cast<size_t>(eocd)];
  uint64_t n_entries = le(e + 10, 2), cd_size = le(e + 12, 4), cd_off = le(e + 16, 4);
  const uint64_t eocd_abs = fsize - tail_len + static_cast<uint64_t>(eocd);
  if (eocd >= 20 && le(&tail[static_cast<size_t>(eocd - 20)], 4) == 0x07064b50) {  // zip64 locator
    const uint64_t z64_off = le(&tail[static_cast<size_t>(eocd - 20) + 8], 8);
    uint8_t z[56];
    if (z64_off > eocd_abs || eocd_abs - z64_off < 56) return bad("zip64 end record offset out of range");
    MBLIP_RETURN_IF_ERROR(read_exact(f, path, z64_off, z, 56));
    if (le(z, 4) != 0x06064b50) return bad("bad zip64 end-of-central-directory signature");
    n_entries = le(z + 32, 8);
    cd_size = le(z + 40, 8);
    cd_off = le(z + 48, 8);
  }
  if (cd_off > fsize || cd_size > fsize - cd_off) return bad("central directory out of range");
  if (cd_size > (512ull << 20)) return bad("central directory larger than 512 MB");
  std::vector<uint8_t> cd(static_cast<size_t>(cd_size));
  MBLIP_RETURN_IF_ERROR(read_exact(f, path, cd_off, cd.data(), cd.size()));
  std::vector<ZipEntry> out;
  size_t p = 0;
  for (uint64_t k = 0; k < n_entries; ++k) {
    if (p + 46 > cd.size() || le(&cd[p], 4) != 0x02014b50) return bad("corrupt central directory entry " + std::to_string(k));
    const uint8_t* h = &cd[p];
    ZipEntry z;
    z.method = static_cast<uint16_t>(le(h + 10, 2));
    uint64_t comp = le(h + 20, 4), uncomp = le(h + 24, 4), local = le(h + 42, 4);
    const size_t nlen = static_cast<size_t>(le(h + 28, 2)), xlen = static_cast<size_t>(le(h + 30, 2)),
                 clen = static_cast<size_t>(le(h + 32, 2));
    if (p + 46 + nlen + xlen + clen > cd.size()) return bad("central directory entry runs past its end");
    z.name.assign(reinterpret_cast<const char*>(h + 46), nlen);
    // zip64 extended information extra field (header id 0x0001)
    for (size_t x = 0; x + 4 <= xlen;) {
      const uint8_t* xf = h + 46 + nlen + x;
      const size_t id = static_cast<size_t>(le(xf, 2)), sz = static_cast<size_t>(le(xf + 2, 2));
      if (x + 4 + sz > xlen) break;
      if (id == 1) {
        size_t q = 4;
        if (uncomp == 0xFFFFFFFFu && q + 8 <= 4 + sz) { uncomp = le(xf + q, 8); q += 8; }
        if (comp == 0xFFFFFFFFu && q + 8 <= 4 + sz) { comp = le(xf + q, 8); q += 8; }
        if (local == 0xFFFFFFFFu && q + 8 <= 4 + sz) { local = le(xf + q, 8); q += 8; }
      }
      x += 4 + sz;
    }
    p += 46 + nlen + xlen + clen;
    if (z.method == 0 && comp != uncomp) return bad("stored entry '" + z.name + "' has differing sizes");
    z.size = comp;
    uint8_t lh[30];
    if (local > fsize || fsize - local < 30) return bad("local header of '" + z.name + "' out of range");
    MBLIP_RETURN_IF_ERROR(read_exact(f, path, local, lh, 30));
    if (le(lh, 4) != 0x04034b50) return bad("bad local header signature for '" + z.name + "'");
    z.data_offset = local + 30 + le(lh + 26, 2) + le(lh + 28, 2);
    if (z.data_offset > fsize || z.size > fsize - z.data_offset) return bad("data of '" + z.name + "' runs past the end of the file");
    out.push_back(std::move(z));
  }
  return out;
}

// ---- pickle VM ----

namespace {

enum class K { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

struct Py;
using PyP = std::shared_ptr<Py>;
struct Py {
  K k = K::None;
  int64_t i = 0;                 // Int/Bool; Storage: numel
  double f = 0;
  std::string s;                 // Str/Bytes; Global: "module.name"; Storage: key
  std::string s2;                // Storage: type name ("FloatStorage")
  std::vector<PyP> items;        // Tuple/List; Dict: key,value,key,value...
  PyP storage;                   // Tensor
  int64_t storage_offset = 0;    // Tensor
  std::vector<int64_t> size, stride;
  int depth = 0;                 // nesting depth of Tuple/List/Dict contents (0: leaf)
  bool contained = false;        // an element of some container: frozen from then on
};

// Deeper nesting than this is refused: destroying a deeper chain of shared_ptr recurses once
// per level (a hostile pickle of a million nested lists would overflow the stack), and a torch
// state dict nests at most a handful of levels.
constexpr int kMaxPickleDepth = 1000;

PyP mk(K k) { auto p = std::make_shared<Py>(); p->k = k; return p; }

const char* kind_name(K k) {
  switch (k) {
    case K::None: return "None"; case K::Bool: return "bool"; case K::Int: return "int";
    case K::Float: return "float"; case K::Str: return "str"; case K::Bytes: return "bytes";
    case K::Tuple: return "tuple"; case K::List: return "list"; case K::Dict: return "dict";
    case K::Global: return "global"; case K::Storage: return "storage"; case K::Tensor: return "tensor";
  }
  return "?";
}

struct StorageType { const char* name; size_t size; SrcDType type; };
const StorageType kStorages[] = {
    {"FloatStorage", 4, SrcDType::F32}, {"HalfStorage", 2, SrcDType::F16}, {"BFloat16Storage", 2, SrcDType::BF16},
    {"DoubleStorage", 8, SrcDType::Other}, {"LongStorage", 8, SrcDType::Other}, {"IntStorage", 4, SrcDType::Other},
    {"ShortStorage", 2, SrcDType::Other}, {"CharStorage", 1, SrcDType::Other}, {"ByteStorage", 1, SrcDType::Other},
    {"BoolStorage", 1, SrcDType::Other},
};
const StorageType* storage_type(const std::string& global) {
  for (const auto& s : kStorages)
    if (global == std::string("torch.") + s.name) return &s;
  return nullptr;
}

bool allowed_global(const std::string& g) {
  return g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
         g == "torch._utils._rebuild_parameter" || storage_type(g) != nullptr;
}

class Vm {
 public:
  explicit Vm(const std::string& b) : b_(b) {}
  Result<PyP> run();

 private:
  Status err(const std::string& m) const {
    return model_load_error("unexpected pickle content at byte " + std::to_string(op_pos_) + ": " + m);
  }
  bool need(size_t n) const { return pos_ + n <= b_.size(); }
  uint64_t take(int n) { uint64_t v = le(reinterpret_cast<const uint8_t*>(b_.data()) + pos_, n); pos_ += n; return v; }
  Result<PyP> pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) return err("stack underflow");
    PyP v = stack_.back(); stack_.pop_back(); return v;
  }
  Result<std::vector<PyP>> pop_mark() {
    if (marks_.empty()) return err("no MARK on the stack");
    const size_t m = marks_.back(); marks_.pop_back();
    std::vector<PyP> v(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return v;
  }
  Result<PyP> reduce(const PyP& fn, const PyP& args);
  // Makes `items` elements of `c`: they are frozen (a contained container is never modified,
  // so nesting depths stay exact and no reference cycle -- a leak -- can be built).
  Status adopt(Py& c, const std::vector<PyP>& items) {
    for (const auto& x : items) {
      x->contained = true;
      c.depth = std::max(c.depth, x->depth + 1);
    }
    if (c.contained && !items.empty())
      return err("modifying a container that is already an element of another one (or of itself)");
    if (c.depth > kMaxPickleDepth) return err("containers nested deeper than " + std::to_string(kMaxPickleDepth) + " levels");
    return Status::Ok();
  }

  const std::string& b_;
  size_t pos_ = 0, op_pos_ = 0;
  std::vector<PyP> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyP> memo_;
};

Result<PyP> Vm::reduce(const PyP& fn, const PyP& args) {
  if (fn->k != K::Global) return err("REDUCE on a " + std::string(kind_name(fn->k)));
  if (args->k != K::Tuple) return err("REDUCE arguments are not a tuple");
  const auto& a = args->items;
  if (fn->s == "collections.OrderedDict") {
    if (!a.empty()) return err("OrderedDict called with arguments");
    return mk(K::Dict);
  }
  if (fn->s == "torch._utils._rebuild_parameter") {
    if (a.empty() || a[0]->k != K::Tensor) return err("_rebuild_parameter without a tensor");
    return a[0];
  }
  if (fn->s == "torch._utils._rebuild_tensor_v2") {
    if (a.size() < 4 || a[0]->k != K::Storage || a[1]->k != K::Int || a[2]->k != K::Tuple || a[3]->k != K::Tuple)
      return err("_rebuild_tensor_v2 with unexpected arguments");
    if (a[2]->items.size() != a[3]->items.size()) return err("tensor size and stride differ in rank");
    auto t = mk(K::Tensor);
    t->storage = a[0];
    t->storage_offset = a[1]->i;
    for (size_t d = 0; d < a[2]->items.size(); ++d) {
      if (a[2]->items[d]->k != K::Int || a[3]->items[d]->k != K::Int) return err("non-integer tensor size/stride");
      t->size.push_back(a[2]->items[d]->i);
      t->stride.push_back(a[3]->items[d]->i);
    }
    return t;
  }
  return err("calling '" + fn->s + "' is not allowed");
}

Result<PyP> Vm::run() {
  while (true) {
    op_pos_ = pos_;
    if (!need(1)) return err("pickle ends without STOP");
    const uint8_t op = static_cast<uint8_t>(b_[pos_++]);
    auto push = [&](PyP v) { stack_.push_back(std::move(v)); };
    auto arg = [&](int n, uint64_t& v) -> bool { if (!need(static_cast<size_t>(n))) return false; v = take(n); return true; };
    uint64_t u = 0;
    switch (op) {
      case 0x80: if (!arg(1, u)) return err("truncated PROTO"); if (u > 5) return err("pickle protocol " + std::to_string(u)); break;
      case 0x95: if (!arg(8, u)) return err("truncated FRAME"); break;  // FRAME: no-op
      case '}': push(mk(K::Dict)); break;
      case ']': push(mk(K::List)); break;
      case ')': push(mk(K::Tuple)); break;
      case 'N': push(mk(K::None)); break;
      case 0x88: case 0x89: { auto v = mk(K::Bool); v->i = op == 0x88; push(v); break; }
      case '(': marks_.push_back(stack_.size()); break;
      case 'c': {  // GLOBAL "module\nname\n"
        const size_t a = b_.find('\n', pos_);
        const size_t c = a == std::string::npos ? a : b_.find('\n', a + 1);
        if (c == std::string::npos) return err("truncated GLOBAL");
        auto g = mk(K::Global);
        g->s = b_.substr(pos_, a - pos_) + "." + b_.substr(a + 1, c - a - 1);
        pos_ = c + 1;
        if (!allowed_global(g->s))
          return err("the pickle references '" + g->s + "', which is not allowed (only tensors of a state dict are accepted)");
        push(g);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        MBLIP_ASSIGN_OR_RETURN(PyP name, pop());
        MBLIP_ASSIGN_OR_RETURN(PyP mod, pop());
        if (mod->k != K::Str || name->k != K::Str) return err("STACK_GLOBAL needs two strings");
        auto g = mk(K::Global);
        g->s = mod->s + "." + name->s;
        if (!allowed_global(g->s))
          return err("the pickle references '" + g->s + "', which is not allowed (only tensors of a state dict are accepted)");
        push(g);
        break;
      }
      case 'q': case 'r': {
        if (!arg(op == 'q' ? 1 : 4, u)) return err("truncated PUT");
        if (stack_.empty()) return err("PUT on an empty stack");
        memo_[u] = stack_.back();
        break;
      }
      case 0x94: if (stack_.empty()) return err("MEMOIZE on an empty stack"); memo_[memo_.size()] = stack_.back(); break;
      case 'h': case 'j': {
        if (!arg(op == 'h' ? 1 : 4, u)) return err("truncated GET");
        auto it = memo_.find(u);
        if (it == memo_.end()) return err("GET of unknown memo key " + std::to_string(u));
        push(it->second);
        break;
      }
      case 'X': case 0x8c: case 0x8d: case 'U': case 'T': case 'C': case 'B': {
        const int n = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d ? 8 : 4);
        if (!arg(n, u) || !need(static_cast<size_t>(u))) return err("truncated string");
        auto v = mk((op == 'C' || op == 'B') ? K::Bytes : K::Str);
        v->s = b_.substr(pos_, static_cast<size_t>(u));
        pos_ += static_cast<size_t>(u);
        push(v);
        break;
      }
      case 'K': case 'M': case 'J': {
        if (!arg(op == 'K' ? 1 : op == 'M' ? 2 : 4, u)) return err("truncated int");
        auto v = mk(K::Int);
        v->i = op == 'J' ? static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(u))) : static_cast<int64_t>(u);
        push(v);
        break;
      }
      case 0x8a: {  // LONG1: n bytes, little-endian two's complement
        if (!arg(1, u) || u > 8 || !need(static_cast<size_t>(u))) return err("unsupported LONG1");
        const int n = static_cast<int>(u);
        uint64_t x = n ? take(n) : 0;
        if (n > 0 && n < 8 && (x >> (8 * n - 1)) & 1) x |= ~0ull << (8 * n);
        auto v = mk(K::Int); v->i = static_cast<int64_t>(x); push(v);
        break;
      }
      case 'G': {
        if (!arg(8, u)) return err("truncated BINFLOAT");
        uint64_t be = 0;
        for (int k = 0; k < 8; ++k) be = (be << 8) | ((u >> (8 * k)) & 0xFF);
        auto v = mk(K::Float); std::memcpy(&v->f, &be, 8); push(v);
        break;
      }
      case 't': {
        MBLIP_ASSIGN_OR_RETURN(auto items, pop_mark());
        auto v = mk(K::Tuple);
        MBLIP_RETURN_IF_ERROR(adopt(*v, items));
        v->items = std::move(items);
        push(v);
        break;
      }
      case 0x85: case 0x86: case 0x87: {
        const int n = op - 0x84;
        auto v = mk(K::Tuple);
        v->items.resize(static_cast<size_t>(n));
        for (int k = n - 1; k >= 0; --k) { MBLIP_ASSIGN_OR_RETURN(v->items[static_cast<size_t>(k)], pop()); }
        MBLIP_RETURN_IF_ERROR(adopt(*v, v->items));
        push(v);
        break;
      }
      case 'Q': {  // BINPERSID: ('storage', storage_type, key, location, numel)
        MBLIP_ASSIGN_OR_RETURN(PyP pid, pop());
        const auto& a = pid->items;
        if (pid->k != K::Tuple || a.size() != 5 || a[0]->k != K::Str || a[0]->s != "storage" || a[1]->k != K::Global ||
            a[2]->k != K::Str || a[4]->k != K::Int)
          return err("persistent id is not a torch storage reference");
        const StorageType* st = storage_type(a[1]->s);
        if (!st) return err("'" + a[1]->s + "' is not a storage type");
        auto s = mk(K::Storage);
        s->s = a[2]->s;
        s->s2 = st->name;
        s->i = a[4]->i;
        push(s);
        break;
      }
      case 'R': {
        MBLIP_ASSIGN_OR_RETURN(PyP args, pop());
        MBLIP_ASSIGN_OR_RETURN(PyP fn, pop());
        MBLIP_ASSIGN_OR_RETURN(PyP v, reduce(fn, args));
        push(v);
        break;
      }
      case 'b': {  // BUILD: state of an OrderedDict (e.g. _metadata) or a tensor is ignored
        MBLIP_ASSIGN_OR_RETURN(PyP state, pop());
        if (stack_.empty()) return err("BUILD on an empty stack");
        if (stack_.back()->k != K::Dict && stack_.back()->k != K::Tensor)
          return err("BUILD on a " + std::string(kind_name(stack_.back()->k)));
        break;
      }
      case 's': case 'u': {
        std::vector<PyP> kv;
        if (op == 's') {
          MBLIP_ASSIGN_OR_RETURN(PyP v, pop());
          MBLIP_ASSIGN_OR_RETURN(PyP k, pop());
          kv = {k, v};
        } else {
          MBLIP_ASSIGN_OR_RETURN(kv, pop_mark());
        }
        if (kv.size() % 2) return err("SETITEMS with an odd number of items");
        if (stack_.empty() || stack_.back()->k != K::Dict) return err("SETITEM target is not a dict");
        MBLIP_RETURN_IF_ERROR(adopt(*stack_.back(), kv));
        for (auto& x : kv) stack_.back()->items.push_back(x);
        break;
      }
      case 'a': case 'e': {
        std::vector<PyP> v;
        if (op == 'a') { MBLIP_ASSIGN_OR_RETURN(PyP x, pop()); v = {x}; } else { MBLIP_ASSIGN_OR_RETURN(v, pop_mark()); }
        if (stack_.empty() || stack_.back()->k != K::List) return err("APPEND target is not a list");
        MBLIP_RETURN_IF_ERROR(adopt(*stack_.back(), v));
        for (auto& x : v) stack_.back()->items.push_back(x);
        break;
      }
      case '0': { MBLIP_ASSIGN_OR_RETURN(PyP x, pop()); (void)x; break; }
      case '.': {
        MBLIP_ASSIGN_OR_RETURN(PyP x, pop());
        return x;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02x", op);
        return err(std::string("unsupported pickle opcode ") + hex);
      }
    }
  }
}

}  // namespace

Result<std::vector<SourceTensor>> parse_state_dict_pickle(const std::string& pkl) {
  Vm vm(pkl);
  MBLIP_ASSIGN_OR_RETURN(PyP root, vm.run());
  if (root->k != K::Dict) return model_load_error(std::string("the pickle holds a ") + kind_name(root->k) + ", not a state dict");
  std::map<std::string, size_t> index;
  std::vector<SourceTensor> out;
  for (size_t k = 0; k + 1 < root->items.size(); k += 2) {
    const PyP& key = root->items[k];
    const PyP& val = root->items[k + 1];
    if (key->k != K::Str) return model_load_error("state dict key is a " + std::string(kind_name(key->k)) + ", not a string");
    if (val->k != K::Tensor)
      return model_load_error("state dict entry '" + key->s + "' is a " + kind_name(val->k) + ", not a tensor");
    const StorageType* st = storage_type("torch." + val->storage->s2);
    SourceTensor t;
    t.name = key->s;
    t.file = val->storage->s;
    t.dtype = st->type;
    t.dtype_name = st->name;
    t.elem_size = st->size;
    t.shape = val->size;
    t.strides = val->stride;
    for (size_t d = 0; d < t.shape.size(); ++d)
      if (t.shape[d] < 0 || t.strides[d] < 0)
        return model_load_error("tensor '" + t.name + "' has a negative size or stride");
    if (val->storage_offset < 0) return model_load_error("tensor '" + t.name + "' has a negative storage offset");
    t.offset = static_cast<uint64_t>(val->storage_offset);  // in elements until resolved
    auto it = index.find(t.name);
    if (it != index.end()) out[it->second] = t; else { index[t.name] = out.size(); out.push_back(t); }
  }
  return out;
}

Result<std::vector<SourceTensor>> read_torch_bin_index(const std::string& path) {
  MBLIP_ASSIGN_OR_RETURN(std::vector<ZipEntry> entries, read_zip_directory(path));
  std::map<std::string, const ZipEntry*> by_name;
  const ZipEntry* pkl = nullptr;
  for (const auto& e : entries) {
    by_name[e.name] = &e;
    const std::string suffix = "data.pkl";
    if (e.name.size() >= suffix.size() && e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        (e.name.size() == suffix.size() || e.name[e.name.size() - suffix.size() - 1] == '/') &&
        (!pkl || e.name.size() < pkl->name.size()))
      pkl = &e;
  }
  if (!pkl) return model_load_error("'" + path + "' is a zip file but not a PyTorch checkpoint (no data.pkl)");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open '" + path + "'");
  auto bo = by_name.find(prefix + "byteorder");
  if (bo != by_name.end() && bo->second->size < 16) {
    std::string order(static_cast<size_t>(bo->second->size), '\0');
    MBLIP_RETURN_IF_ERROR(read_exact(f, path, bo->second->data_offset, order.data(), order.size()));
    if (order != "little") return unsupported("'" + path + "' stores tensors in '" + order + "' byte order");
  }
  if (pkl->method != 0) return unsupported("'" + path + "': compressed data.pkl is not supported");
  if (pkl->size > (1ull << 30)) return model_load_error("'" + path + "': data.pkl larger than 1 GB");
  std::string bytes(static_cast<size_t>(pkl->size), '\0');
  MBLIP_RETURN_IF_ERROR(read_exact(f, path, pkl->data_offset, bytes.data(), bytes.size()));
  auto parsed = parse_state_dict_pickle(bytes);
  if (!parsed.ok()) return parsed.status().with_context("'" + path + "'");
  std::vector<SourceTensor> out = std::move(parsed).value();
  for (auto& t : out) {
    auto it = by_name.find(prefix + "data/" + t.file);
    if (it == by_name.end()) return model_load_error("'" + path + "': storage '" + t.file + "' of tensor '" + t.name + "' is missing");
    const ZipEntry& z = *it->second;
    if (z.method != 0) return unsupported("'" + path + "': storage '" + z.name + "' is compressed (only stored entries are supported)");
    // Highest element the view touches must lie inside the storage bytes.
    // Checked arithmetic: hostile sizes / strides must not wrap around into a passing check.
    uint64_t last = t.offset, numel = 1, span = 0;
    bool empty = false, overflow = false;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      const auto n = static_cast<uint64_t>(t.shape[d]);
      if (n > (1ull << 40) || (n != 0 && numel > (1ull << 48) / n)) overflow = true;
      else numel *= n;
      if (n == 0) empty = true;
      else overflow |= __builtin_mul_overflow(n - 1, static_cast<uint64_t>(t.strides[d]), &span) ||
                       __builtin_add_overflow(last, span, &last);
    }
    if (overflow)
      return model_load_error("'" + path + "': tensor '" + t.name + "' has an absurd size, stride or offset " +
                              shape_to_string(t.shape));
    uint64_t end_elems = 0, end_bytes = 0;
    if (!empty && (__builtin_add_overflow(last, uint64_t{1}, &end_elems) ||
                   __builtin_mul_overflow(end_elems, static_cast<uint64_t>(t.elem_size), &end_bytes) || end_bytes > z.size))
      return model_load_error("'" + path + "': tensor '" + t.name + "' " + shape_to_string(t.shape) +
                              " reaches past the end of its storage (" + std::to_string(z.size) + " bytes)");
    t.offset = z.data_offset + t.offset * t.elem_size;
    t.file = path;
  }
  return out;
}

}  // namespace mblip
