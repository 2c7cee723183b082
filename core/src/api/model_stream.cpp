// ModelStreamLoader: a model from its GGUF bytes pushed in file order. The header is parsed by
// GgufFile::parse_header (the reader's own validation) once it has arrived; each tensor's bytes
// are then assembled in one buffer, handed to the MBlipModelBuilder (which packs and frees them).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/pipeline.h"
#include "io/gguf.h"
#include "kernels/weight_cache.h"

namespace mblip {

namespace {
// A header (metadata + tensor infos) beyond this is refused: the real model's is ~5 MB
// (tokenizer included), and a stream of unknown size must not buffer without bound.
constexpr uint64_t kMaxStreamHeaderBytes = uint64_t{512} << 20;
}  // namespace

struct ModelStreamLoader::Impl {
  LoadOptions opts;
  uint64_t total = 0;  // 0: unknown
  uint64_t received = 0;
  Status error = Status::Ok();
  bool finished = false;

  std::vector<uint8_t> header;  // bytes until the header parses
  uint64_t need = 0;            // header bytes the parse needs before the next try
  std::unique_ptr<GgufFile> file;
  PreparedLoad prep;
  std::vector<const GgufTensorInfo*> order;  // tensors by data offset
  size_t next = 0;                           // tensor being received
  std::unique_ptr<uint8_t[]> cur;            // its bytes (when some request wants it)
  bool cur_wanted = false, cur_started = false;
  uint64_t peak = 0;
  // Packed-weights cache (opts.memory_weight_cache): bound to the model's key once the bytes
  // before the tensor data (header, tensor table, padding) have all been hashed.
  uint64_t header_hash = 1469598103934665603ull;
  bool store_bound = false;

  Status fail(Status s) {
    error = s;
    header.clear();
    header.shrink_to_fit();
    cur.reset();
    prep.builder.reset();
    file.reset();
    return s;
  }

  // Tries to parse the buffered header; on success plans the load and feeds the data bytes
  // that came with it.
  Status try_header(uint64_t total_size) {
    uint64_t want = 0;
    MBLIP_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> f,
                           GgufFile::parse_header(header.data(), header.size(), total_size, &want));
    if (!f) {
      if (want > kMaxStreamHeaderBytes)
        return model_load_error("GGUF header needs more than " + std::to_string(kMaxStreamHeaderBytes) +
                                " bytes (at least " + std::to_string(want) + "); not a model this runtime can stream");
      need = want;
      return Status::Ok();
    }
    file = std::move(f);
    MBLIP_ASSIGN_OR_RETURN(prep, prepare_load(*file, opts, 0, header.size()));
    for (const GgufTensorInfo& t : file->tensors()) order.push_back(&t);
    std::sort(order.begin(), order.end(),
              [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
    std::vector<uint8_t> head = std::move(header);
    header.clear();
    return feed(head.data(), head.size(), 0);  // `head` is freed on return
  }

  // Data bytes [off, off + n) of the file (absolute offsets; header and padding are skipped).
  Status feed(const uint8_t* p, size_t n, uint64_t off) {
    if (opts.memory_weight_cache && !store_bound) {
      const uint64_t d = file->data_offset();
      if (off < d) header_hash = hash_bytes(p, static_cast<size_t>(std::min<uint64_t>(n, d - off)), header_hash);
      if (off + n >= d) {
        char h[17];
        std::snprintf(h, sizeof h, "%016llx", static_cast<unsigned long long>(header_hash));
        opts.memory_weight_cache->bind(std::string("stream=") + h + ";bytes=" + std::to_string(total) + ";" +
                                       packed_cache_environment_key());
        store_bound = true;
      }
    }
    WeightStoreScope scope(opts.memory_weight_cache);  // builds run on this thread in wasm
    while (n > 0 && next < order.size()) {
      const GgufTensorInfo& t = *order[next];
      const uint64_t start = file->data_offset() + t.offset, end = start + t.view.nbytes;
      if (off + n <= start) return Status::Ok();
      if (off < start) {
        const uint64_t skip = start - off;
        p += skip;
        n -= static_cast<size_t>(skip);
        off = start;
      }
      if (!cur_started) {
        cur_started = true;
        cur_wanted = prep.builder->wants(t.view.name);
        if (cur_wanted) {
          cur.reset(new (std::nothrow) uint8_t[t.view.nbytes]);
          if (!cur)
            return out_of_memory("cannot allocate " + std::to_string(t.view.nbytes) + " bytes for tensor '" +
                                 t.view.name + "'");
          peak = std::max(peak, prep.builder->held_bytes() + t.view.nbytes);
        }
      }
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, end - off));
      if (cur_wanted) std::memcpy(cur.get() + (off - start), p, take);
      p += take;
      n -= take;
      off += take;
      if (off == end) {
        if (cur_wanted) {
          TensorView v = t.view;
          MBLIP_RETURN_IF_ERROR(prep.builder->add_tensor(TensorBytes(std::move(v), std::move(cur))));
        }
        cur.reset();
        cur_started = cur_wanted = false;
        ++next;
      }
    }
    return Status::Ok();
  }

  Status push(const uint8_t* data, size_t n) {
    if (!error.ok()) return error;
    if (finished) return invalid_argument("model stream already finished");
    if (n > 0 && !data) return invalid_argument("null model bytes");
    if (total && n > total - received)
      return fail(model_load_error("model stream sent more than the declared " + std::to_string(total) + " bytes"));
    const uint64_t off = received;
    received += n;
    if (!file) {
      header.insert(header.end(), data, data + n);
      peak = std::max<uint64_t>(peak, header.size());
      if (header.size() < need) return Status::Ok();
      Status s = try_header(total);
      return s.ok() ? s : fail(s);
    }
    Status s = feed(data, n, off);
    return s.ok() ? s : fail(s);
  }

  Result<std::shared_ptr<Model>> finish() {
    if (!error.ok()) return error;
    if (finished) return invalid_argument("model stream already finished");
    finished = true;
    if (!file) {
      if (received == 0) return fail(model_load_error("model stream is empty (0 bytes)"));
      // The stream ended inside the header: the parse with the final size names what is missing.
      Status s = try_header(received);
      if (!s.ok()) return fail(s);
      if (!file) return fail(model_load_error("GGUF truncated: the stream ended inside the header"));
    }
    if (total && received < total)
      return fail(model_load_error("model stream ended after " + std::to_string(received) + " of " +
                                   std::to_string(total) + " bytes"));
    if (next < order.size()) {
      const GgufTensorInfo& t = *order[next];
      return fail(model_load_error("model stream ended after " + std::to_string(received) + " bytes, inside tensor '" +
                                   t.view.name + "' (data ends at " +
                                   std::to_string(file->data_offset() + t.offset + t.view.nbytes) +
                                   "; file truncated?)"));
    }
    auto model = finish_load(prep, opts);
    file.reset();
    if (!model.ok()) return fail(model.status());
    if (opts.memory_weight_cache) {  // before any operator runs
      Status s = opts.memory_weight_cache->finalize();
      if (!s.ok()) return fail(s);
    }
    return model;
  }
};

ModelStreamLoader::ModelStreamLoader(const LoadOptions& opts, uint64_t total_size) : impl_(new Impl()) {
  impl_->opts = opts;
  impl_->total = total_size;
}
ModelStreamLoader::~ModelStreamLoader() = default;

Status ModelStreamLoader::push(const uint8_t* data, size_t size) { return impl_->push(data, size); }
Result<std::shared_ptr<Model>> ModelStreamLoader::finish() { return impl_->finish(); }
uint64_t ModelStreamLoader::bytes_received() const { return impl_->received; }
bool ModelStreamLoader::header_parsed() const { return impl_->file != nullptr || impl_->finished; }
uint64_t ModelStreamLoader::peak_buffered_bytes() const { return impl_->peak; }

Result<std::shared_ptr<Model>> load_file_streaming(const std::string& path, const LoadOptions& opts) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return io_error("cannot open model file '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error("'" + path + "' is not a regular file");
  }
  ModelStreamLoader loader(opts, static_cast<uint64_t>(st.st_size));
  std::vector<uint8_t> buf(size_t{8} << 20);
  for (;;) {
    const ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return io_error("reading '" + path + "': " + why);
    }
    if (r == 0) break;
    Status s = loader.push(buf.data(), static_cast<size_t>(r));
    if (!s.ok()) {
      ::close(fd);
      return s;
    }
  }
  ::close(fd);
  return loader.finish();
}

}  // namespace mblip
