// config.json parsing: both transformers spellings give the same architecture; bad fields are
// refused naming the file and the field.
#include <gtest/gtest.h>

#include "framework/model/llama_config.h"
#include "tests/support/expect_error.h"

namespace lowbit {
namespace {

// The fields of Meta-Llama-3.1-8B's config.json as transformers 4 wrote them.
const char* kLlama31V4 = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096,
  "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
  "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "rope_theta": 500000.0,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256})";

// The same model as transformers 5 writes it.
const char* kLlama31V5 = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 128000, "eos_token_id": 128001,
  "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_parameters": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
  "original_max_position_embeddings": 8192, "rope_type": "llama3", "rope_theta": 500000.0},
  "tie_word_embeddings": false, "dtype": "bfloat16", "vocab_size": 128256})";

TEST(LlamaConfig, TransformersFourAndFiveSpellingsGiveTheSameArchitecture) {
  for (const char* text : {kLlama31V4, kLlama31V5}) {
    const LlamaConfig c = LlamaConfig::from_json_text(text, "config.json");
    EXPECT_EQ(c.hidden_size, 4096);
    EXPECT_EQ(c.intermediate_size, 14336);
    EXPECT_EQ(c.num_hidden_layers, 32);
    EXPECT_EQ(c.num_attention_heads, 32);
    EXPECT_EQ(c.num_key_value_heads, 8);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.kv_groups(), 4);
    EXPECT_EQ(c.vocab_size, 128256);
    EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_DOUBLE_EQ(c.rope.theta, 500000.0);
    EXPECT_EQ(c.rope.type, "llama3");
    EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
    EXPECT_DOUBLE_EQ(c.rope.low_freq_factor, 1.0);
    EXPECT_DOUBLE_EQ(c.rope.high_freq_factor, 4.0);
    EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_EQ(c.torch_dtype, "bfloat16");
    EXPECT_EQ(c.bos_token_id, 128000);
    EXPECT_EQ(c.eos_token_id, 128001);
  }
}

std::string with(const std::string& from, const std::string& to) {
  std::string s = kLlama31V4;
  const auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

TEST(LlamaConfig, MissingRequiredFieldIsRefused) {
  EXPECT_LOWBIT_ERROR(LlamaConfig::from_json_text(with("\"hidden_size\": 4096,", ""), "m/config.json"),
                      {"m/config.json", "missing field 'hidden_size'"});
}

TEST(LlamaConfig, WrongTypeIsRefused) {
  EXPECT_LOWBIT_ERROR(LlamaConfig::from_json_text(with("\"num_hidden_layers\": 32", "\"num_hidden_layers\": \"32\""), "c.json"),
                      {"c.json", "'num_hidden_layers'", "positive integer"});
}

TEST(LlamaConfig, KeyValueHeadsThatDoNotDivideHeadsAreRefused) {
  EXPECT_LOWBIT_ERROR(LlamaConfig::from_json_text(with("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"), "c.json"),
                      {"c.json", "'num_key_value_heads'", "must divide"});
}

TEST(LlamaConfig, UnsupportedRopeTypeIsRefused) {
  EXPECT_LOWBIT_ERROR(LlamaConfig::from_json_text(with("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\""), "c.json"),
                      {"c.json", "rope_scaling", "'yarn'"});
}

TEST(LlamaConfig, Llama3RopeMissingAFactorIsRefused) {
  EXPECT_LOWBIT_ERROR(LlamaConfig::from_json_text(with("\"low_freq_factor\": 1.0,", ""), "c.json"),
                      {"c.json", "rope_scaling", "'low_freq_factor'"});
}

TEST(LlamaConfig, OtherModelTypeIsRefused) {
  EXPECT_LOWBIT_ERROR(LlamaConfig::from_json_text(with("\"model_type\": \"llama\"", "\"model_type\": \"mistral\""), "c.json"),
                      {"c.json", "'model_type'", "mistral"});
}

TEST(LlamaConfig, InvalidJsonIsRefused) {
  EXPECT_LOWBIT_ERROR(LlamaConfig::from_json_text("{\"hidden_size\": ", "c.json"), {"c.json", "not valid JSON"});
}

TEST(LlamaConfig, EveryFieldTransformersReadsIsTypeChecked) {
  const std::vector<std::pair<std::pair<std::string, std::string>, std::vector<std::string>>> cases = {
      {{"\"bos_token_id\": 128000", "\"bos_token_id\": 128256"}, {"'bos_token_id'", "[0, vocab_size = 128256)"}},
      {{"[128001, 128008, 128009]", "[128001, -1]"}, {"'eos_token_id'", "token id"}},
      {{"[128001, 128008, 128009]", "[]"}, {"'eos_token_id'", "empty list"}},
      {{"\"architectures\": [\"LlamaForCausalLM\"]", "\"architectures\": [\"LlamaForSequenceClassification\"]"},
       {"'architectures'", "LlamaForSequenceClassification", "LlamaForCausalLM"}},
      {{"\"architectures\": [\"LlamaForCausalLM\"]", "\"architectures\": \"LlamaForCausalLM\""},
       {"'architectures'", "list of class names"}},
      {{"\"attention_bias\": false", "\"attention_bias\": false, \"pretraining_tp\": 0"}, {"'pretraining_tp'"}},
      {{"\"attention_bias\": false", "\"attention_bias\": false, \"use_cache\": \"yes\""}, {"'use_cache'"}},
      {{"\"attention_bias\": false", "\"attention_bias\": false, \"attention_dropout\": -0.1"}, {"'attention_dropout'"}},
      {{"\"attention_bias\": false", "\"attention_bias\": \"no\""}, {"'attention_bias'", "true or false"}},
      {{"\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 0"}, {"'rms_norm_eps'", "positive number"}},
      {{"\"factor\": 8.0", "\"factor\": \"8\""}, {"rope_scaling", "'factor'"}},
  };
  for (const auto& [edit, fragments] : cases) {
    std::vector<std::string> want = fragments;
    want.push_back("c.json");
    EXPECT_LOWBIT_ERROR(LlamaConfig::from_json_text(with(edit.first, edit.second), "c.json"), (want));
  }
  EXPECT_NO_THROW(LlamaConfig::from_json_text(kLlama31V4, "c.json"));
}

TEST(LlamaConfig, MissingFileIsRefused) {
  EXPECT_LOWBIT_ERROR(LlamaConfig::from_file("/nonexistent/config.json"), {"/nonexistent/config.json", "cannot open"});
}

}  // namespace
}  // namespace lowbit
