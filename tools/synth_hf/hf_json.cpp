// JSON side files of a synthetic HF checkpoint (mirrors PretrainedConfig.to_dict(),
// Blip2Config / Blip2VisionConfig / Blip2QFormerConfig / MT5Config of transformers 4.36.2).
#include "hf_json.h"

#include <nlohmann/json.hpp>

namespace mblip {

namespace {

using ojson = nlohmann::ordered_json;

// The keys every PretrainedConfig writes (configuration_utils.py), at their defaults.
ojson pretrained_common(bool encoder_decoder, bool tie_word_embeddings) {
  ojson j;
  j["return_dict"] = true;
  j["output_hidden_states"] = false;
  j["output_attentions"] = false;
  j["torchscript"] = false;
  j["torch_dtype"] = nullptr;
  j["use_bfloat16"] = false;
  j["tf_legacy_loss"] = false;
  j["pruned_heads"] = ojson::object();
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["is_encoder_decoder"] = encoder_decoder;
  j["is_decoder"] = false;
  j["cross_attention_hidden_size"] = nullptr;
  j["add_cross_attention"] = false;
  j["tie_encoder_decoder"] = false;
  j["max_length"] = 20;
  j["min_length"] = 0;
  j["do_sample"] = false;
  j["early_stopping"] = false;
  j["num_beams"] = 1;
  j["num_beam_groups"] = 1;
  j["diversity_penalty"] = 0.0;
  j["temperature"] = 1.0;
  j["top_k"] = 50;
  j["top_p"] = 1.0;
  j["typical_p"] = 1.0;
  j["repetition_penalty"] = 1.0;
  j["length_penalty"] = 1.0;
  j["no_repeat_ngram_size"] = 0;
  j["encoder_no_repeat_ngram_size"] = 0;
  j["bad_words_ids"] = nullptr;
  j["num_return_sequences"] = 1;
  j["chunk_size_feed_forward"] = 0;
  j["output_scores"] = false;
  j["return_dict_in_generate"] = false;
  j["forced_bos_token_id"] = nullptr;
  j["forced_eos_token_id"] = nullptr;
  j["remove_invalid_values"] = false;
  j["exponential_decay_length_penalty"] = nullptr;
  j["suppress_tokens"] = nullptr;
  j["begin_suppress_tokens"] = nullptr;
  j["architectures"] = nullptr;
  j["finetuning_task"] = nullptr;
  j["id2label"] = {{"0", "LABEL_0"}, {"1", "LABEL_1"}};
  j["label2id"] = {{"LABEL_0", 0}, {"LABEL_1", 1}};
  j["tokenizer_class"] = nullptr;
  j["prefix"] = nullptr;
  j["bos_token_id"] = nullptr;
  j["pad_token_id"] = nullptr;
  j["eos_token_id"] = nullptr;
  j["sep_token_id"] = nullptr;
  j["decoder_start_token_id"] = nullptr;
  j["task_specific_params"] = nullptr;
  j["problem_type"] = nullptr;
  return j;
}

std::string dump(const ojson& j) { return j.dump(2) + "\n"; }

}  // namespace

std::string hf_config_json(const ModelConfig& cfg) {
  const VisionConfig& v = cfg.vision;
  const QFormerConfig& q = cfg.qformer;
  const TextConfig& t = cfg.text;

  ojson vj = pretrained_common(false, true);
  vj["hidden_size"] = v.hidden_size;
  vj["intermediate_size"] = v.intermediate_size;
  vj["num_hidden_layers"] = v.num_layers;
  vj["num_attention_heads"] = v.num_heads;
  vj["patch_size"] = v.patch_size;
  vj["image_size"] = v.image_size;
  vj["initializer_range"] = 1e-10;
  vj["attention_dropout"] = 0.0;
  vj["layer_norm_eps"] = v.layer_norm_eps;
  vj["hidden_act"] = v.hidden_act;
  vj["qkv_bias"] = v.qkv_bias;
  vj["model_type"] = "blip_2_vision_model";

  ojson qj = pretrained_common(false, true);
  qj["pad_token_id"] = 0;
  qj["vocab_size"] = 30522;
  qj["hidden_size"] = q.hidden_size;
  qj["num_hidden_layers"] = q.num_layers;
  qj["num_attention_heads"] = q.num_heads;
  qj["hidden_act"] = q.hidden_act;
  qj["intermediate_size"] = q.intermediate_size;
  qj["hidden_dropout_prob"] = 0.1;
  qj["attention_probs_dropout_prob"] = 0.1;
  qj["max_position_embeddings"] = 512;
  qj["initializer_range"] = 0.02;
  qj["layer_norm_eps"] = q.layer_norm_eps;
  qj["position_embedding_type"] = "absolute";
  qj["cross_attention_frequency"] = q.cross_attention_frequency;
  qj["encoder_hidden_size"] = q.encoder_hidden_size;
  qj["model_type"] = "blip_2_qformer";

  ojson tj = pretrained_common(true, t.tie_word_embeddings);
  tj["_name_or_path"] = t.model_type == "mt5" ? "bigscience/mt0-xl" : "";
  tj["architectures"] = {t.model_type == "mt5" ? "MT5ForConditionalGeneration" : "T5ForConditionalGeneration"};
  tj["tokenizer_class"] = "T5Tokenizer";
  tj["pad_token_id"] = t.pad_token_id;
  tj["eos_token_id"] = t.eos_token_id;
  tj["decoder_start_token_id"] = t.decoder_start_token_id;
  tj["model_type"] = t.model_type;
  tj["vocab_size"] = t.vocab_size;
  tj["d_model"] = t.d_model;
  tj["d_kv"] = t.d_kv;
  tj["d_ff"] = t.d_ff;
  tj["num_layers"] = t.num_layers;
  tj["num_decoder_layers"] = t.num_decoder_layers;
  tj["num_heads"] = t.num_heads;
  tj["relative_attention_num_buckets"] = t.relative_attention_num_buckets;
  tj["relative_attention_max_distance"] = t.relative_attention_max_distance;
  tj["dropout_rate"] = 0.1;
  tj["classifier_dropout"] = 0.0;
  tj["layer_norm_epsilon"] = t.layer_norm_epsilon;
  tj["initializer_factor"] = 1.0;
  tj["feed_forward_proj"] = (t.gated ? "gated-" : "") + std::string(t.dense_act == "gelu_new" ? "gelu" : t.dense_act);
  tj["use_cache"] = true;
  tj["dense_act_fn"] = t.dense_act;
  tj["is_gated_act"] = t.gated;

  ojson j;
  j["_name_or_path"] = cfg.name;
  j["architectures"] = {"Blip2ForConditionalGeneration"};
  j["initializer_factor"] = 1.0;
  j["initializer_range"] = 0.02;
  j["is_encoder_decoder"] = true;
  j["model_type"] = "blip-2";
  j["num_query_tokens"] = cfg.num_query_tokens;
  j["qformer_config"] = qj;
  j["text_config"] = tj;
  j["tie_word_embeddings"] = t.tie_word_embeddings;
  j["torch_dtype"] = "float32";
  j["transformers_version"] = "4.36.2";
  j["use_decoder_only_language_model"] = false;
  j["vision_config"] = vj;
  return dump(j);
}

std::string hf_preprocessor_config_json(const ModelConfig& cfg) {
  const PreprocessConfig& p = cfg.preprocess;
  ojson j;
  j["do_convert_rgb"] = p.do_convert_rgb;
  j["do_normalize"] = p.do_normalize;
  j["do_rescale"] = p.do_rescale;
  j["do_resize"] = p.do_resize;
  j["image_mean"] = p.mean;
  j["image_processor_type"] = "BlipImageProcessor";
  j["image_std"] = p.std;
  j["processor_class"] = "Blip2Processor";
  j["resample"] = p.resample;
  j["rescale_factor"] = p.rescale_factor;
  j["size"] = {{"height", p.height}, {"width", p.width}};
  return dump(j);
}

std::string hf_generation_config_json(const ModelConfig& cfg) {
  ojson j;
  j["_from_model_config"] = true;
  j["decoder_start_token_id"] = cfg.text.decoder_start_token_id;
  j["eos_token_id"] = cfg.text.eos_token_id;
  j["pad_token_id"] = cfg.text.pad_token_id;
  j["transformers_version"] = "4.36.2";
  return dump(j);
}

std::string hf_tokenizer_config_json() {
  ojson added;
  const char* names[] = {"<pad>", "</s>", "<unk>"};
  for (int i = 0; i < 3; ++i)
    added[std::to_string(i)] = {{"content", names[i]}, {"lstrip", false}, {"normalized", false},
                                {"rstrip", false}, {"single_word", false}, {"special", true}};
  ojson j;
  j["added_tokens_decoder"] = added;
  j["additional_special_tokens"] = ojson::array();
  j["clean_up_tokenization_spaces"] = true;
  j["eos_token"] = "</s>";
  j["extra_ids"] = 0;
  j["legacy"] = true;
  j["model_max_length"] = 1000000000000000019884624838656.0;
  j["pad_token"] = "<pad>";
  j["processor_class"] = "Blip2Processor";
  j["sp_model_kwargs"] = ojson::object();
  j["tokenizer_class"] = "T5Tokenizer";
  j["unk_token"] = "<unk>";
  return dump(j);
}

std::string hf_special_tokens_map_json() {
  ojson j;
  for (auto [key, content] : {std::pair<const char*, const char*>{"eos_token", "</s>"}, {"pad_token", "<pad>"},
                              {"unk_token", "<unk>"}})
    j[key] = {{"content", content}, {"lstrip", false}, {"normalized", false}, {"rstrip", false}, {"single_word", false}};
  return dump(j);
}

}  // namespace mblip
