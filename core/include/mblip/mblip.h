// Public C++ API of mblip.cpp: load an mBLIP / BLIP-2 (T5 family) GGUF model, turn an image
// into a reusable ImageEmbedding, and generate text for prompts (greedy, beam search, sampling).
// Everything fallible returns Status / Result<T>; nothing here aborts or exits.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mblip/status.h"

namespace mblip {
class PackedWeightStore;  // opaque; made by make_memory_weight_cache() (mblip/cache.h)
// The public types live in an inline namespace: their link names (mblip::api::...) cannot clash
// with internal types of the same short name (model/mblip_model.h LoadOptions, image/image.h
// DecodeOptions). User code writes mblip::LoadOptions as usual.
inline namespace api {

const char* version();

// ---------------------------------------------------------------------------------------------
// Options

struct LoadOptions {
  int threads = 0;                // worker threads per Session (<= 0: hardware concurrency)
  uint64_t max_memory_bytes = 0;  // refuse to load when the weights need more (0: no limit)
  // Refuse to load (kOutOfMemory, with the numbers) when the weights + an estimate of one
  // Session's working memory exceed what the process can get: natively MemAvailable, in wasm
  // the 4 GB heap maximum. false skips the check (docs/limits.md).
  bool check_available_memory = true;
  // Packed-weights cache (native Model::load_file): the first load writes XNNPACK's packed
  // weights to a file, later loads of the same model map it instead of repacking. A corrupt or
  // foreign file is reported on stderr and rebuilt; an unwritable folder packs in memory.
  bool weight_cache = true;
  // Its folder: "" = $MBLIP_CACHE_DIR, else $XDG_CACHE_HOME/mblip/packed, else
  // ~/.cache/mblip/packed.
  std::string weight_cache_dir;
  // Streamed loads (ModelStreamLoader; the wasm package): an in-memory packed-weights cache the
  // caller keeps in its own storage (make_memory_weight_cache, mblip/cache.h). nullptr: none.
  std::shared_ptr<PackedWeightStore> memory_weight_cache;
  // Called during the load with the fraction of the weights done (0..1, last call 1).
  std::function<void(double)> on_progress;
};

// Whether a model file of this many bytes can be loaded here at all, before anything is read
// (the wasm32 heap holds at most 4 GiB, and the runtime needs room beside the weights): a
// kModelLoad error naming both sizes, or Ok. Loading checks the full budget again once the
// header is known (LoadOptions::check_available_memory).
Status check_model_file_size(uint64_t file_bytes);

struct DecodeOptions {
  bool apply_exif = true;         // rotate by EXIF Orientation (HF's load_image does; the processor alone does not)
  int64_t max_pixels = 64000000;  // refuse larger images before decoding (decompression bombs)
};

// transformers' GenerationConfig.early_stopping: false / true / "never".
enum class EarlyStopping { kFalse, kTrue, kNever };

// Limits checked by validate_generate_options().
constexpr int kMaxNewTokensLimit = 512;
constexpr int kMaxBeams = 64;

// The generation settings (names and defaults follow transformers 4.36 GenerationConfig, except
// max_new_tokens, which HF leaves to max_length=20 and is 20 here too).
struct GenerateOptions {
  int max_new_tokens = 20;        // 1..kMaxNewTokensLimit
  int min_new_tokens = 0;         // eos is forbidden before this many tokens
  int num_beams = 1;              // 1: greedy / sampling; 2..kMaxBeams: beam search
  int num_return_sequences = 1;   // <= num_beams for beam search; sampling: independent samples
  double length_penalty = 1.0;    // beam score = sum logprob / length ** length_penalty
  EarlyStopping early_stopping = EarlyStopping::kFalse;
  bool do_sample = false;         // multinomial sampling (num_beams must be 1)
  double temperature = 1.0;       // > 0
  int top_k = 50;                 // 0: off (HF default 50)
  double top_p = 1.0;             // (0, 1]
  uint64_t seed = 0;              // sampling PRNG seed (xoshiro256**, same sequence on every platform)
  double repetition_penalty = 1.0;  // > 0; 1: off
  int no_repeat_ngram_size = 0;   // 0: off
};

// Returns an InvalidArgument status naming the first bad option.
Status validate_generate_options(const GenerateOptions& opts);

// One streaming update. Greedy / sampling: one event per generated token (final).
// Beam search: one event per step carrying the currently best running beam (provisional: it
// may still be replaced; the final result comes back from generate()).
struct TokenEvent {
  int step = 0;                   // number of tokens generated so far (1-based)
  int32_t token = -1;             // the newest token (of row 0 / the best running beam)
  std::string delta;              // text added by this token (empty for provisional events)
  std::string text;               // decoded text so far (of row 0 / the best running beam)
  bool provisional = false;       // true for beam search
};

struct Callbacks {
  // Return false to cancel: generate() then returns StatusCode::kCancelled.
  std::function<bool(const TokenEvent&)> on_token;
  // Polled once per decoding step; set it from any thread to cancel.
  const std::atomic<bool>* cancel = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Results

// (stage name, milliseconds) in pipeline order: "decode", "preprocess", "vision+qformer",
// "tokenize", "encoder", "decoder", "detokenize", ...
using Timings = std::vector<std::pair<std::string, double>>;

struct Sequence {
  std::string text;               // detokenized, special tokens skipped, HF clean-up applied
  std::vector<int32_t> tokens;    // generated ids, without the decoder start; eos included when produced
  double score = 0;               // beam search: HF sequences_scores; otherwise sum of log-probs
};

struct GenerateResult {
  std::string prompt;
  std::vector<int32_t> prompt_tokens;  // as fed to the encoder (ends with eos)
  std::vector<Sequence> sequences;     // num_return_sequences, best first
  Timings timings_ms;
  const std::string& text() const { return sequences.at(0).text; }
  const std::vector<int32_t>& tokens() const { return sequences.at(0).tokens; }
  double score() const { return sequences.at(0).score; }
};

// The vision tower + Q-Former + language projection result for one image: num_queries rows of
// d_model floats. Reusable for any number of prompts; a plain value (copyable, thread-safe).
struct ImageEmbedding {
  int64_t num_queries = 0;
  int64_t dim = 0;
  std::vector<float> data;        // num_queries * dim, row-major
  Timings timings_ms;             // of the stages that produced it
};

// Preprocessed model input (CLIP-normalised, channels first): (1, 3, height, width).
struct PixelValues {
  int64_t height = 0, width = 0;
  std::vector<float> data;
};

struct Language {
  std::string code;               // ISO 639-1 / -3 code as in mBLIP's training data ("en", "de", "ceb")
  std::string name;               // English name used in prompts ("English", "German")
};

// The 96 languages mBLIP was trained on (see core/src/model/languages.cpp for the source).
const std::vector<Language>& mblip_languages();
// By code or English name, case-insensitive ("de", "German", "german").
Result<Language> find_language(const std::string& code_or_name);

// ---------------------------------------------------------------------------------------------
// Tasks: the one place where a caption / answer request becomes a prompt and generation settings.
// Every frontend (CLI, wasm bindings, JS worker) passes the user's request through plan_task()
// and runs the plan, so prompt templates, defaults, the sampling rule and option checks are
// the same everywhere.

enum class Task { kCaption, kAsk };

// One generation setting changed from the task's defaults, by name and as text, exactly as a
// user gave it: GenerateOptions field names in snake_case ("max_new_tokens") or camelCase
// ("maxNewTokens"); values "30", "-1.5", "true" / "false", "never" (early_stopping).
struct OptionValue {
  std::string name;
  std::string value;
};

struct TaskRequest {
  Task task = Task::kCaption;
  std::string lang = "English";        // one of mblip_languages(), by code or English name
  std::string question;                // kAsk: the question (required)
  std::string prompt;                  // kCaption: replaces the template when non-empty
  std::vector<OptionValue> options;    // changes to the task's defaults (see task_defaults)
  DecodeOptions decode;                // how images are decoded (EXIF orientation on by default)
};

// What plan_task() decided: run with Session::generate(image, prompt, options).
struct TaskPlan {
  Task task = Task::kCaption;
  Language language;
  std::string prompt;
  GenerateOptions options;             // validated
  DecodeOptions decode;
};

// The mBLIP authors' settings: captions "Caption in {Language}:", beam 5, up to 50 new tokens;
// short answers "Question: {q} Short answer in {Language}:", beam 5, 10 new tokens, length
// penalty -1. Sampling (do_sample) without an explicit num_beams uses one beam. Errors
// (InvalidArgument) name the option or field at fault.
Result<TaskPlan> plan_task(const TaskRequest& request);
GenerateOptions task_defaults(Task task);
std::string task_prompt(Task task, const std::string& language_name, const std::string& question = "");

struct ModelInfo {
  std::string architecture;       // "blip2-t5"
  std::string name;
  std::string text_model_type;    // "mt5" / "t5"
  bool random_weights = false;    // synthetic model: outputs are meaningless
  int64_t image_size = 224;
  int64_t num_query_tokens = 0;
  int64_t vision_hidden = 0, vision_layers = 0;
  int64_t qformer_hidden = 0, qformer_layers = 0;
  int64_t d_model = 0, encoder_layers = 0, decoder_layers = 0, vocab_size = 0;
  int64_t max_prompt_tokens = 0;  // prompt tokens (incl. eos) accepted by generate()
  uint64_t weight_bytes = 0;      // bytes of the loaded (possibly packed) weights
  std::vector<Language> languages;
};

// ---------------------------------------------------------------------------------------------
// Model and Session

class Session;

// Weights, config and tokenizer; immutable after loading and shared by any number of Sessions
// (in parallel threads). Results do not depend on the Session or thread that computes them.
class Model : public std::enable_shared_from_this<Model> {
 public:
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  static Result<std::shared_ptr<Model>> load_file(const std::string& path, const LoadOptions& opts = {});
  // Takes ownership of a malloc()ed buffer (wasm: JS streamed the model file into the heap);
  // it is free()d when the Model goes away, also on failure.
  static Result<std::shared_ptr<Model>> load_buffer(uint8_t* malloc_buffer, size_t size,
                                                    const LoadOptions& opts = {});

  const ModelInfo& info() const;
  // Tokenizer (sentencepiece from the model file). encode: no eos unless add_eos.
  Result<std::vector<int32_t>> tokenize(const std::string& text, bool add_eos = false) const;
  Result<std::vector<std::string>> token_pieces(const std::vector<int32_t>& ids) const;
  // HF T5Tokenizer.decode(skip_special_tokens=True, clean_up_tokenization_spaces=True).
  Result<std::string> detokenize(const std::vector<int32_t>& ids) const;

  Result<std::unique_ptr<Session>> new_session() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }
  explicit Model(std::unique_ptr<Impl> impl);  // internal: use load_file / load_buffer

 private:
  std::unique_ptr<Impl> impl_;
};

// Loads a model from the bytes of its GGUF file delivered in file order, in chunks of any size
// (wasm: JS streams a download, a File or a Node file through a small heap buffer), so the whole
// raw file is never in memory: the header is parsed (and validated exactly like
// Model::load_file) as soon as it has arrived, the memory check runs before any weight is
// built, and each tensor is packed for the kernels as soon as its bytes are complete and then
// freed. At most one tensor of raw bytes is held (plus a weight waiting for the bias that
// follows it in the file).
class ModelStreamLoader {
 public:
  // total_size: the file's byte count when known (Content-Length, File.size, stat), else 0; with
  // it a truncated or oversized stream is reported as soon as the header says so.
  explicit ModelStreamLoader(const LoadOptions& opts = {}, uint64_t total_size = 0);
  ~ModelStreamLoader();
  ModelStreamLoader(const ModelStreamLoader&) = delete;
  ModelStreamLoader& operator=(const ModelStreamLoader&) = delete;

  // The next `size` bytes of the file; copies what it keeps (the caller may reuse `data`).
  // Errors are sticky: after one, every push and finish returns it.
  Status push(const uint8_t* data, size_t size);
  // After the last byte: assembles the Model (error if the stream ended early).
  Result<std::shared_ptr<Model>> finish();

  uint64_t bytes_received() const;
  bool header_parsed() const;
  // Most raw bytes held at once (header buffer or tensors being assembled / waiting).
  uint64_t peak_buffered_bytes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// One tensor of a model file, as `mblip info` lists it.
struct TensorEntry {
  std::string name;               // GGUF name
  std::string hf_name;            // Hugging Face checkpoint name
  std::string type;               // "f32", "f16", "q8_0", "q4_0"
  std::string component;          // "vision", "qformer", "projection", "text_encoder", ...
  bool per_step = false;          // read once per generated token (decoder but cross-attention K/V, lm_head)
  bool linear = false;            // a matrix the runtime multiplies activations by (linear, patch conv, tied head)
  std::string rows;               // linear: activation rows per call, "few" (decode), "some" (tens), "many" (hundreds)
  std::vector<int64_t> shape;     // Hugging Face order
  uint64_t bytes = 0;
};

// A model file opened for its metadata only: config, tokenizer and tensor table are read, no
// weight is read or packed (fast, small). For inspection and preprocessing (`mblip info`,
// `tokenize`, `preprocess`); load a Model to run it.
class ModelFile {
 public:
  ~ModelFile();
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  static Result<std::unique_ptr<ModelFile>> open(const std::string& gguf_path);
  // Only a sentencepiece model (spiece.model): tokenizer calls work, the rest is empty.
  static Result<std::unique_ptr<ModelFile>> open_tokenizer(const std::string& spiece_path);

  const ModelInfo& info() const;
  uint32_t gguf_version() const;
  // Hyperparameters as a JSON object: {"vision": {...}, "qformer": {...}, "text": {...},
  // "image": {...}, "num_query_tokens": n} (names as in the HF configs).
  std::string config_json() const;
  const std::vector<TensorEntry>& tensors() const;

  Result<std::vector<int32_t>> tokenize(const std::string& text, bool add_eos = false) const;
  Result<std::vector<std::string>> token_pieces(const std::vector<int32_t>& ids) const;
  Result<std::string> detokenize(const std::vector<int32_t>& ids) const;
  // Decode + preprocess exactly as the model's BlipImageProcessor settings say.
  Result<PixelValues> preprocess(const uint8_t* bytes, size_t size, const DecodeOptions& opts = {}) const;

  struct Impl;
  explicit ModelFile(std::unique_ptr<Impl> impl);  // internal: use open / open_tokenizer

 private:
  std::unique_ptr<Impl> impl_;
};

enum class PixelFormat { kRGB, kRGBA };

// Per-call state, one per thread: its thread pool, the kernels' operator instances and scratch,
// and activation buffers for every stage (sized from the config when the Session is made; the
// decoder's KV cache and cross-attention K/V are kept and reused across generations). Sessions
// of one Model share its weights read-only and run in parallel; use each from one thread at a time.
class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Decode (JPEG/PNG/BMP/GIF), preprocess exactly as BlipImageProcessor, run vision + Q-Former
  // + projection.
  Result<ImageEmbedding> embed_image(const uint8_t* bytes, size_t size, const DecodeOptions& opts = {});
  Result<ImageEmbedding> embed_image_file(const std::string& path, const DecodeOptions& opts = {});
  // Raw interleaved 8-bit pixels, rows top to bottom (stride = width * channels).
  Result<ImageEmbedding> embed_pixels(const uint8_t* pixels, int64_t width, int64_t height,
                                      PixelFormat format = PixelFormat::kRGB);
  Result<ImageEmbedding> embed_pixel_values(const PixelValues& pv);
  // Decode + preprocess only (for inspection: `mblip preprocess`).
  Result<PixelValues> preprocess(const uint8_t* bytes, size_t size, const DecodeOptions& opts = {});

  Result<GenerateResult> generate(const ImageEmbedding& image, const std::string& prompt,
                                  const GenerateOptions& opts = {}, const Callbacks& callbacks = {});
  // Several (image, prompt) pairs, prompts of different lengths; each item gives what
  // transformers gives for the right-padded batch (padding is masked out, so items are
  // independent and run one after another here).
  Result<std::vector<GenerateResult>> generate_batch(const std::vector<const ImageEmbedding*>& images,
                                                     const std::vector<std::string>& prompts,
                                                     const GenerateOptions& opts = {},
                                                     const Callbacks& callbacks = {});

  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);  // internal: use Model::new_session
  Impl& impl() { return *impl_; }                // internal (core/src/api)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace api
}  // namespace mblip
