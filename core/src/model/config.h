// Model hyperparameters and preprocessing constants, as stored in the
// GGUF metadata (keys listed in docs/model-file.md). Read by the runtime, written by the converter.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "image/image.h"  // PreprocessConfig
#include "mblip/status.h"

namespace mblip {

class GgufFile;
class GgufWriter;

// Blip2VisionConfig (EVA ViT)
struct VisionConfig {
  int64_t hidden_size = 1408, intermediate_size = 6144, num_layers = 39, num_heads = 16;
  int64_t image_size = 224, patch_size = 14;
  double layer_norm_eps = 1e-6;
  bool qkv_bias = true;
  std::string hidden_act = "gelu";  // erf GELU
  int64_t num_positions() const { return (image_size / patch_size) * (image_size / patch_size) + 1; }
};

// Blip2QFormerConfig (BERT-style)
struct QFormerConfig {
  int64_t hidden_size = 768, intermediate_size = 3072, num_layers = 12, num_heads = 12;
  int64_t cross_attention_frequency = 2;
  int64_t encoder_hidden_size = 1408;  // forced to vision hidden_size
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";
};

// T5Config / MT5Config of the language model
struct TextConfig {
  std::string model_type = "mt5";     // "t5" or "mt5"
  int64_t vocab_size = 250112, d_model = 2048, d_kv = 64, d_ff = 5120, num_heads = 32;
  int64_t num_layers = 24, num_decoder_layers = 24;
  int64_t relative_attention_num_buckets = 32, relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  bool gated = true;                  // feed_forward_proj "gated-*"
  std::string dense_act = "gelu_new"; // "relu" or "gelu_new" (tanh form)
  bool tie_word_embeddings = false;   // true: lm_head = shared, output scaled by d_model^-0.5
  int64_t pad_token_id = 0, eos_token_id = 1, decoder_start_token_id = 0, unk_token_id = 2;
};


struct ModelConfig {
  std::string architecture = "blip2-t5";  // general.architecture
  std::string name;                       // general.name
  VisionConfig vision;
  QFormerConfig qformer;
  TextConfig text;
  int64_t num_query_tokens = 32;
  PreprocessConfig preprocess;
  bool random_weights = false;  // synthetic / bundled demo model: say so in UIs

  // Checks internal consistency (positive sizes, divisibility, etc.).
  Status validate() const;
};

// The only architecture this runtime implements (general.architecture).
constexpr const char* kArchitecture = "blip2-t5";
// UINT8 array holding the bytes of the sentencepiece model (spiece.model); written by the
// converter, read by the tokenizer. Not part of ModelConfig.
constexpr const char* kTokenizerModelKey = "tokenizer.sentencepiece.model";

// Reads every key (error names the missing / mistyped key), checks the architecture, then
// validate(). Errors are StatusCode::kModelLoad.
Result<ModelConfig> read_config(const GgufFile& file);
// Sets every key of the config (general.*, mblip.*) on the writer.
void write_config(const ModelConfig& cfg, GgufWriter& writer);

struct ConfigKeyInfo {
  std::string key;
  const char* type;  // GGUF type written: "UINT32", "FLOAT64", "BOOL", "STRING", "ARRAY[FLOAT32]"
  bool required;     // false: absent keys keep the ModelConfig default
};
// Every metadata key read_config reads / write_config writes, in file order (docs and tests).
std::vector<ConfigKeyInfo> config_keys();

}  // namespace mblip
