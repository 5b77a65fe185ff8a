#include "framework/model/llama_config.h"

#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"

namespace lowbit {

using nlohmann::json;

namespace {

class Fields {
 public:
  Fields(const json& j, std::string origin) : j_(j), origin_(std::move(origin)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  int64_t positive_int(const char* key) const {
    LOWBIT_CHECK(has(key), origin_, ": missing field '", key, "'");
    const json& v = j_[key];
    LOWBIT_CHECK(v.is_number_integer() && v.get<int64_t>() > 0, origin_, ": field '", key,
                 "' must be a positive integer, got ", v.dump());
    return v.get<int64_t>();
  }
  int64_t positive_int_or(const char* key, int64_t fallback) const {
    return has(key) ? positive_int(key) : fallback;
  }
  double positive_number_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_[key];
    LOWBIT_CHECK(v.is_number() && v.get<double>() > 0, origin_, ": field '", key,
                 "' must be a positive number, got ", v.dump());
    return v.get<double>();
  }
  bool bool_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    LOWBIT_CHECK(j_[key].is_boolean(), origin_, ": field '", key, "' must be true or false, got ",
                 j_[key].dump());
    return j_[key].get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    LOWBIT_CHECK(j_[key].is_string(), origin_, ": field '", key, "' must be a string, got ",
                 j_[key].dump());
    return j_[key].get<std::string>();
  }
  // A token id in [0, vocab); configs may hold a list (several EOS ids): each is checked, the
  // first is kept.
  int64_t token_id_or(const char* key, int64_t vocab) const {
    if (!has(key)) return -1;
    const json& v = j_[key];
    const json list = v.is_array() ? v : json::array({v});
    LOWBIT_CHECK(!list.empty(), origin_, ": field '", key, "' is an empty list");
    for (const json& id : list)
      LOWBIT_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < vocab, origin_, ": field '",
                   key, "' must be a token id in [0, vocab_size = ", vocab, "), got ", v.dump());
    return list[0].get<int64_t>();
  }
  // Fields lowbit does not use but transformers reads: a wrong type means a damaged or foreign file.
  void number_at_least_or_absent(const char* key, double low) const {
    if (!has(key)) return;
    LOWBIT_CHECK(j_[key].is_number() && j_[key].get<double>() >= low, origin_, ": field '", key,
                 "' must be a number >= ", low, ", got ", j_[key].dump());
  }

 private:
  const json& j_;
  std::string origin_;
};

void read_rope(const json& j, const std::string& origin, RopeConfig& rope) {
  // transformers 5: everything under "rope_parameters"; transformers 4: rope_theta + rope_scaling.
  const bool v5 = j.contains("rope_parameters") && j["rope_parameters"].is_object();
  const json& scaling = v5 ? j["rope_parameters"] : j.value("rope_scaling", json());
  const std::string scaling_field = v5 ? "rope_parameters" : "rope_scaling";
  Fields top(j, origin);
  rope.theta = top.positive_number_or("rope_theta", rope.theta);
  if (scaling.is_null()) return;
  LOWBIT_CHECK(scaling.is_object(), origin, ": field '", scaling_field, "' must be an object or null");
  Fields s(scaling, origin + ": field '" + scaling_field + "'");
  rope.theta = s.positive_number_or("rope_theta", rope.theta);
  rope.type = s.string_or("rope_type", s.string_or("type", "default"));
  LOWBIT_CHECK(rope.type == "default" || rope.type == "llama3", origin, ": field '", scaling_field,
               "': rope type '", rope.type, "' is not supported (supported: default, llama3)");
  if (rope.type == "llama3") {
    for (const char* key : {"factor", "low_freq_factor", "high_freq_factor",
                            "original_max_position_embeddings"})
      LOWBIT_CHECK(s.has(key), origin, ": field '", scaling_field, "': llama3 rope scaling needs '",
                   key, "'");
    rope.factor = s.positive_number_or("factor", 1.0);
    rope.low_freq_factor = s.positive_number_or("low_freq_factor", 1.0);
    rope.high_freq_factor = s.positive_number_or("high_freq_factor", 4.0);
    rope.original_max_position_embeddings = s.positive_int("original_max_position_embeddings");
    LOWBIT_CHECK(rope.high_freq_factor > rope.low_freq_factor, origin, ": field '", scaling_field,
                 "': high_freq_factor (", rope.high_freq_factor, ") must exceed low_freq_factor (",
                 rope.low_freq_factor, ")");
  }
}

}  // namespace

LlamaConfig LlamaConfig::from_json_text(const std::string& text, const std::string& origin) {
  const json j = parse_json_object(text, origin);
  Fields f(j, origin);

  const std::string model_type = f.string_or("model_type", "");
  if (model_type == "llava_next") {
    // The language model of LLaVA-NeXT: its text_config, under the names transformers saves the
    // wrapper with (and the Hub's llava-hf checkpoints carry).
    LOWBIT_CHECK(f.has("text_config") && j["text_config"].is_object(), origin,
                 ": field 'text_config' (the language model of a llava_next checkpoint) is missing or not an object");
    json text = j["text_config"];
    if (!text.contains("model_type")) text["model_type"] = "llama";
    LOWBIT_CHECK(text["model_type"] == "llama", origin, ": field 'text_config': model_type ", text["model_type"].dump(),
                 "; LLaVA-NeXT's language model must be a llama");
    LlamaConfig c = from_json_text(text.dump(), origin + ": field 'text_config'");
    if (f.has("architectures")) {
      const json& a = j["architectures"];
      LOWBIT_CHECK(a == json::array({"LlavaNextForConditionalGeneration"}), origin, ": field 'architectures' is ",
                   a.dump(), "; a llava_next checkpoint is LlavaNextForConditionalGeneration");
    }
    c.model_type = "llava_next";
    c.weights_prefix = "language_model.model.";
    c.lm_head_name = "language_model.lm_head.weight";
    return c;
  }
  LOWBIT_CHECK(model_type == "llama", origin, ": field 'model_type' is '", model_type,
               "', expected 'llama' (LlamaForCausalLM) or 'llava_next' (LlavaNextForConditionalGeneration)");

  LlamaConfig c;
  c.hidden_size = f.positive_int("hidden_size");
  c.intermediate_size = f.positive_int("intermediate_size");
  c.num_hidden_layers = f.positive_int("num_hidden_layers");
  c.num_attention_heads = f.positive_int("num_attention_heads");
  c.num_key_value_heads = f.positive_int_or("num_key_value_heads", c.num_attention_heads);
  c.vocab_size = f.positive_int("vocab_size");
  c.max_position_embeddings = f.positive_int_or("max_position_embeddings", 2048);
  c.rms_norm_eps = f.positive_number_or("rms_norm_eps", c.rms_norm_eps);
  c.tie_word_embeddings = f.bool_or("tie_word_embeddings", false);
  c.torch_dtype = f.string_or("dtype", f.string_or("torch_dtype", "float32"));
  c.hidden_act = f.string_or("hidden_act", "silu");
  c.bos_token_id = f.token_id_or("bos_token_id", c.vocab_size);
  c.eos_token_id = f.token_id_or("eos_token_id", c.vocab_size);
  f.token_id_or("pad_token_id", c.vocab_size);
  f.bool_or("use_cache", true);
  f.number_at_least_or_absent("attention_dropout", 0);
  f.number_at_least_or_absent("initializer_range", 0);
  f.positive_int_or("pretraining_tp", 1);  // > 1 splits the matmuls in transformers: the same product
  read_rope(j, origin, c.rope);
  // The checkpoint's class: another head (sequence classification, a vision-language wrapper) has
  // other weights and outputs, even where the decoder is LLaMA's.
  if (f.has("architectures")) {
    const json& a = j["architectures"];
    bool causal_lm = false;
    LOWBIT_CHECK(a.is_array(), origin, ": field 'architectures' must be a list of class names, got ", a.dump());
    for (const json& name : a) {
      LOWBIT_CHECK(name.is_string(), origin, ": field 'architectures' must be a list of class names, got ", a.dump());
      causal_lm = causal_lm || name.get<std::string>() == "LlamaForCausalLM";
    }
    LOWBIT_CHECK(causal_lm, origin, ": field 'architectures' is ", a.dump(), "; lowbit runs LlamaForCausalLM");
  }

  LOWBIT_CHECK(c.num_attention_heads % c.num_key_value_heads == 0, origin,
               ": field 'num_key_value_heads' (", c.num_key_value_heads,
               ") must divide num_attention_heads (", c.num_attention_heads, ")");
  if (f.has("head_dim")) {
    c.head_dim = f.positive_int("head_dim");
  } else {
    LOWBIT_CHECK(c.hidden_size % c.num_attention_heads == 0, origin, ": field 'hidden_size' (",
                 c.hidden_size, ") must be a multiple of num_attention_heads (", c.num_attention_heads,
                 ") when head_dim is not given");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  LOWBIT_CHECK(c.head_dim % 2 == 0, origin, ": field 'head_dim' must be even for RoPE, got ", c.head_dim);
  LOWBIT_CHECK(c.hidden_act == "silu", origin, ": field 'hidden_act' is '", c.hidden_act,
               "', only 'silu' (SwiGLU) is supported");
  LOWBIT_CHECK(!f.bool_or("attention_bias", false), origin,
               ": field 'attention_bias' is true; biased attention projections are not supported");
  LOWBIT_CHECK(!f.bool_or("mlp_bias", false), origin,
               ": field 'mlp_bias' is true; biased MLP projections are not supported");
  LOWBIT_CHECK(c.torch_dtype == "float32" || c.torch_dtype == "float16" || c.torch_dtype == "bfloat16",
               origin, ": field 'torch_dtype' is '", c.torch_dtype,
               "', expected float32, float16 or bfloat16");
  return c;
}

std::string LlamaConfig::to_json_text() const {
  json rope_params = {{"rope_theta", rope.theta}, {"rope_type", rope.type}};
  if (rope.type == "llama3") {
    rope_params["factor"] = rope.factor;
    rope_params["low_freq_factor"] = rope.low_freq_factor;
    rope_params["high_freq_factor"] = rope.high_freq_factor;
    rope_params["original_max_position_embeddings"] = rope.original_max_position_embeddings;
  }
  json j = {{"architectures", {"LlamaForCausalLM"}},
            {"model_type", "llama"},
            {"attention_bias", false},
            {"attention_dropout", 0.0},
            {"mlp_bias", false},
            {"hidden_act", hidden_act},
            {"hidden_size", hidden_size},
            {"intermediate_size", intermediate_size},
            {"num_hidden_layers", num_hidden_layers},
            {"num_attention_heads", num_attention_heads},
            {"num_key_value_heads", num_key_value_heads},
            {"head_dim", head_dim},
            {"vocab_size", vocab_size},
            {"max_position_embeddings", max_position_embeddings},
            {"rms_norm_eps", rms_norm_eps},
            {"rope_parameters", rope_params},
            {"tie_word_embeddings", tie_word_embeddings},
            {"dtype", torch_dtype},
            {"initializer_range", 0.02},
            {"pretraining_tp", 1},
            {"use_cache", true}};
  j["bos_token_id"] = bos_token_id >= 0 ? json(bos_token_id) : json(nullptr);
  j["eos_token_id"] = eos_token_id >= 0 ? json(eos_token_id) : json(nullptr);
  return j.dump(2) + "\n";
}

LlamaConfig LlamaConfig::from_file(const std::string& path) { return from_json_text(read_file(path), path); }

}  // namespace lowbit
