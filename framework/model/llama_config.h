// The architecture hyperparameters of a LlamaForCausalLM checkpoint, read from Hugging Face's
// config.json (both the transformers 4 spelling — rope_theta + rope_scaling, torch_dtype — and the
// transformers 5 one — rope_parameters, dtype).
#pragma once

#include <cstdint>
#include <string>

namespace lowbit {

struct RopeConfig {
  double theta = 10000.0;
  // "default" (plain RoPE) or "llama3" (frequency-dependent scaling of Llama 3.1+).
  std::string type = "default";
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // GQA: divides num_attention_heads
  int64_t head_dim = 0;             // hidden_size / num_attention_heads unless stated
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  std::string torch_dtype = "float32";  // dtype the checkpoint was saved in
  std::string hidden_act = "silu";
  int64_t bos_token_id = -1;  // -1 when absent
  int64_t eos_token_id = -1;
  // "llama" (LlamaForCausalLM), or "llava_next": the language model of a
  // LlavaNextForConditionalGeneration checkpoint, read from its text_config; its tensors carry the
  // wrapper's names (framework/model/llava_next.h reads the rest of the checkpoint).
  std::string model_type = "llama";
  std::string weights_prefix = "model.";       // "model.layers.0...", "model.embed_tokens.weight"
  std::string lm_head_name = "lm_head.weight";

  bool multimodal() const { return model_type != "llama"; }

  // Reads and validates config.json; errors name the file and the field.
  static LlamaConfig from_file(const std::string& path);
  static LlamaConfig from_json_text(const std::string& text, const std::string& origin);
  // config.json as transformers 5 writes it for LlamaForCausalLM (and from_json_text reads back).
  std::string to_json_text() const;

  int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }
  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
};

}  // namespace lowbit
