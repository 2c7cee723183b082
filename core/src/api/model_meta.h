// What a model file says without its weights, shared by Model (loaded) and ModelFile
// (metadata only): ModelInfo from the config, tokenizer calls, image preprocessing, config JSON.
#pragma once
#include <string>
#include <vector>

#include "mblip/mblip.h"

namespace mblip {

struct ModelConfig;
class Tokenizer;

ModelInfo model_info_from(const ModelConfig& c, uint64_t weight_bytes);
Result<std::vector<int32_t>> tokenize_with(const Tokenizer& t, const std::string& text, bool add_eos);
Result<std::vector<std::string>> pieces_with(const Tokenizer& t, const std::vector<int32_t>& ids);
// Decode (JPEG/PNG/BMP/GIF) + BlipImageProcessor preprocessing with the model's settings.
Result<PixelValues> preprocess_bytes(const ModelConfig& c, const uint8_t* bytes, size_t size,
                                     const DecodeOptions& opts);
std::string config_json(const ModelConfig& c);

}  // namespace mblip
