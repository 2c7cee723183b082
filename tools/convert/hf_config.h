// Hugging Face config files -> ModelConfig: config.json (Blip2Config, in the fully spelled-out
// form or HF's diff form that omits keys at their transformers 4.36.2 class defaults),
// preprocessor_config.json (BlipImageProcessor) and generation_config.json.
#pragma once
#include <string>

#include "mblip/status.h"
#include "model/config.h"

namespace mblip {

// Parses config.json text. Errors: invalid JSON, unsupported architecture (model_type not
// "blip-2", text model not t5/mt5, decoder-only LM), unsupported activation, bad values.
Result<ModelConfig> parse_blip2_config(const std::string& json_text);
// Overlays preprocessor_config.json / generation_config.json onto `cfg`.
Status apply_preprocessor_config(const std::string& json_text, ModelConfig& cfg);
Status apply_generation_config(const std::string& json_text, ModelConfig& cfg);

// Reads <dir>/config.json, preprocessor_config.json (required) and generation_config.json
// (optional) into one config; name = config "_name_or_path" or the directory name.
Result<ModelConfig> load_hf_config(const std::string& dir);

}  // namespace mblip
