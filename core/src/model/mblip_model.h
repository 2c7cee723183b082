// MBlipModel: the loaded float32-faithful model (config + all towers), with every stage callable
// on its own (vision, Q-Former, projection, T5 encoder, decoder sessions) so tests can compare
// each golden array and the pipeline can chain them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "io/gguf.h"
#include "kernels/linear.h"
#include "kernels/thread_pool.h"
#include "model/config.h"
#include "model/projection.h"
#include "model/qformer.h"
#include "model/t5_decoder.h"
#include "model/t5_encoder.h"
#include "model/vision.h"
#include "model/weights.h"

namespace mblip {

struct ModelLoadOptions {
  LinearOptions linear;  // kernel backend (auto: XNNPACK where built, else the reference)
};

class MBlipModelBuilder;

class MBlipModel {
 public:
  // Reads the config, builds one LinearKernel per weight and releases each tensor's bytes once
  // packed (MBlipModelBuilder fed with the file's tensors in file order). The file (and with it
  // a heap buffer holding the model bytes) is destroyed when loading ends: read any other
  // metadata (tokenizer) before calling this.
  static Result<std::unique_ptr<MBlipModel>> load(std::unique_ptr<GgufFile> file, const ModelLoadOptions& opts = {});

  const ModelConfig& config() const { return cfg_; }
  int64_t num_query_tokens() const { return cfg_.num_query_tokens; }
  int64_t d_model() const { return cfg_.text.d_model; }

  // --- stages (all outputs row-major, batch size 1) ---
  // pixels: (3, image_size, image_size) f32 normalised -> num_positions x vision hidden.
  Status vision(const float* pixels, std::vector<float>& out, ThreadPool& pool) const;
  // vision states (num_positions x vision hidden) -> num_query_tokens x qformer hidden.
  Status qformer(const float* vision_states, std::vector<float>& out, ThreadPool& pool) const;
  // qformer output -> num_query_tokens x d_model.
  Status project(const float* qformer_out, std::vector<float>& out, ThreadPool& pool) const;
  // The three above: pixels -> projected queries (num_query_tokens x d_model).
  Status encode_image(const float* pixels, std::vector<float>& queries, ThreadPool& pool) const;
  // LLM input: [queries ; shared_embedding(ids)] ((Q+L) x d_model, unscaled embeddings) and
  // mask [ones(Q) ; prompt_mask] (prompt_mask empty = all ones).
  Status build_encoder_input(const std::vector<float>& queries, const std::vector<int32_t>& ids,
                             const std::vector<float>& prompt_mask, std::vector<float>& embeds,
                             std::vector<float>& mask01) const;
  // T5 encoder: embeds (len x d_model), mask01 (len, or empty = all ones) -> len x d_model.
  Status encode_text(const std::vector<float>& embeds, const std::vector<float>& mask01, std::vector<float>& out,
                     ThreadPool& pool) const;
  // A decoder session (StepModel) for one encoder output; cross K/V computed once here.
  // capacity: expected number of decoder positions (grows if exceeded).
  Result<std::unique_ptr<T5DecoderSession>> new_decoder(const std::vector<float>& enc_out,
                                                        const std::vector<float>& mask01, ThreadPool& pool,
                                                        size_t capacity = 64) const;

  // --- the same stages on a Session's buffers (model/activations.h): no allocation once `act`
  // is sized; *out points into act and stays valid until that stage runs again ---
  Status vision(const float* pixels, Activations& act, const float** out, ThreadPool& pool) const;
  Status qformer(const float* vision_states, Activations& act, const float** out, ThreadPool& pool) const;
  // qformer output -> out (num_query_tokens x d_model floats).
  Status project(const float* qformer_out, float* out, ThreadPool& pool) const;
  // embeds: len x d_model; mask01: len values or nullptr (all ones).
  Status encode_text(const float* embeds, size_t len, const float* mask01, Activations& act, const float** out,
                     ThreadPool& pool) const;
  // The decoder for one encoder output, kept in act.decoder and restarted by the next call
  // (its cross K/V, KV cache and step buffers are reused): valid until the next call.
  Result<T5DecoderSession*> decoder_for(const float* enc_out, size_t len, const float* mask01, Activations& act,
                                        ThreadPool& pool, size_t capacity) const;

 private:
  friend class MBlipModelBuilder;
  MBlipModel() = default;
  // Runs every tower's load once against the built weights `w` (each takes its own by name).
  Status load_towers(WeightLoader& w);
  ModelConfig cfg_;
  VisionTower vision_;
  QFormer qformer_;
  Projection proj_;
  Embedding shared_;
  T5Encoder encoder_;
  std::unique_ptr<T5Decoder> decoder_;
};

// Builds an MBlipModel one tensor at a time, so the raw bytes of the whole file never have to
// be in memory: create() reads the config and checks every tensor of the table
// (expected_tensors) against the header's tensor infos (no tensor bytes needed); add_tensor()
// packs each tensor as it arrives (file order) and frees its bytes; finish() assembles the towers. Used by MBlipModel::load (mmap / buffer) and
// by the streaming loader (api ModelStreamLoader) alike.
class MBlipModelBuilder {
 public:
  // `header` must outlive the builder (its tensor infos are referenced).
  static Result<std::unique_ptr<MBlipModelBuilder>> create(const GgufFile& header, const ModelLoadOptions& opts = {});
  const ModelConfig& config() const { return cfg_; }
  bool wants(const std::string& tensor_name) const { return weights_.wants(tensor_name); }
  Status add_tensor(TensorBytes bytes) { return weights_.add_tensor(std::move(bytes)); }
  // Feeds every wanted tensor of a file with bytes in file order, releasing each once built
  // (mmap: pages dropped); `progress` gets the fraction of the file's tensor bytes passed.
  Status add_file_tensors(GgufFile& file, const std::function<void(double)>& progress = {});
  Result<std::unique_ptr<MBlipModel>> finish();

  // Estimated bytes of the built weights, and the largest raw tensor held while building.
  uint64_t planned_weight_bytes() const { return weights_.planned_bytes(); }
  uint64_t largest_tensor_bytes() const { return weights_.largest_tensor_bytes(); }
  uint64_t held_bytes() const { return weights_.held_bytes(); }
  uint64_t peak_held_bytes() const { return weights_.peak_held_bytes(); }

 private:
  MBlipModelBuilder(const GgufFile& header, const ModelLoadOptions& opts) : weights_(header, opts.linear) {}
  ModelConfig cfg_;
  WeightLoader weights_;
  std::unique_ptr<MBlipModel> model_;
};

}  // namespace mblip
