// The JSON side files of a Hugging Face mBLIP checkpoint directory, written from a ModelConfig:
// config.json in the fully spelled-out form transformers 4.36 saves (every PretrainedConfig
// key, vision_config / qformer_config / text_config), preprocessor_config.json,
// generation_config.json, tokenizer_config.json and special_tokens_map.json.
#pragma once
#include <string>

#include "model/config.h"

namespace mblip {

std::string hf_config_json(const ModelConfig& cfg);              // Blip2Config.to_json_string()
std::string hf_preprocessor_config_json(const ModelConfig& cfg);  // BlipImageProcessor
std::string hf_generation_config_json(const ModelConfig& cfg);    // GenerationConfig
std::string hf_tokenizer_config_json();                           // T5Tokenizer
std::string hf_special_tokens_map_json();

}  // namespace mblip
