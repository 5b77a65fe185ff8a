// Fuzzes config.json (framework/model/llama_config.*): both transformers spellings, every field's
// type and range, the consistency checks. Property: a config the reader accepts is written back by
// to_json_text() as a config the reader accepts again, with every field unchanged.
#include "framework/model/llama_config.h"
#include "tests/fuzz/fuzz_support.h"

using namespace lowbit;

namespace {

bool same(const LlamaConfig& a, const LlamaConfig& b) {
  return a.hidden_size == b.hidden_size && a.intermediate_size == b.intermediate_size &&
         a.num_hidden_layers == b.num_hidden_layers && a.num_attention_heads == b.num_attention_heads &&
         a.num_key_value_heads == b.num_key_value_heads && a.head_dim == b.head_dim && a.vocab_size == b.vocab_size &&
         a.max_position_embeddings == b.max_position_embeddings && a.rms_norm_eps == b.rms_norm_eps &&
         a.rope.theta == b.rope.theta && a.rope.type == b.rope.type && a.rope.factor == b.rope.factor &&
         a.rope.low_freq_factor == b.rope.low_freq_factor && a.rope.high_freq_factor == b.rope.high_freq_factor &&
         a.rope.original_max_position_embeddings == b.rope.original_max_position_embeddings &&
         a.tie_word_embeddings == b.tie_word_embeddings && a.torch_dtype == b.torch_dtype && a.hidden_act == b.hidden_act &&
         a.bos_token_id == b.bos_token_id && a.eos_token_id == b.eos_token_id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::refusing([&] {
    const LlamaConfig c = LlamaConfig::from_json_text(text, "config.json");
    fuzz::require(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0 && c.head_dim > 0,
                  "accepted config with inconsistent heads");
    LlamaConfig back;
    try {
      back = LlamaConfig::from_json_text(c.to_json_text(), "written config.json");
    } catch (const Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      fuzz::require(false, "to_json_text() of an accepted config is refused when read back");
    }
    fuzz::require(same(c, back), "config.json round trip changes a field");
  });
  return 0;
}
