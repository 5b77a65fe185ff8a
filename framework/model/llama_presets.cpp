#include "framework/model/llama_presets.h"

#include <array>

#include "framework/core/error.h"

namespace lowbit {
namespace {

struct Preset {
  const char* name;
  int64_t hidden, intermediate, layers, heads, kv_heads;
};
// Meta-Llama-3-8B and -70B config.json: vocab 128256, RoPE theta 500000 (no scaling), 8192
// positions, rms_norm_eps 1e-5, bf16, BOS 128000, EOS 128001.
constexpr std::array<Preset, 2> kPresets{{
    {"llama3-8b", 4096, 14336, 32, 32, 8},
    {"llama3-70b", 8192, 28672, 80, 64, 8},
}};

}  // namespace

LlamaConfig llama_preset(const std::string& name) {
  for (const Preset& p : kPresets) {
    if (name != p.name) continue;
    LlamaConfig c;
    c.hidden_size = p.hidden;
    c.intermediate_size = p.intermediate;
    c.num_hidden_layers = p.layers;
    c.num_attention_heads = p.heads;
    c.num_key_value_heads = p.kv_heads;
    c.head_dim = p.hidden / p.heads;
    c.vocab_size = 128256;
    c.max_position_embeddings = 8192;
    c.rms_norm_eps = 1e-5;
    c.rope.theta = 500000.0;
    c.torch_dtype = "bfloat16";
    c.bos_token_id = 128000;
    c.eos_token_id = 128001;
    return c;
  }
  std::string known;
  for (const Preset& p : kPresets) known += std::string(known.empty() ? "" : ", ") + p.name;
  LOWBIT_FAIL("unknown model shape '", name, "' (known: ", known, ")");
}

std::vector<std::string> llama_preset_names() {
  std::vector<std::string> out;
  for (const Preset& p : kPresets) out.push_back(p.name);
  return out;
}

}  // namespace lowbit
