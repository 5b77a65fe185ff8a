// A small LLaMA architecture for unit tests that build random weights (init_llama): 2 blocks,
// hidden 32, 4 query / 2 KV heads of 8, intermediate 64, a 50-token vocabulary (BOS 0, EOS 1).
#pragma once

#include "framework/model/llama_config.h"

namespace lowbit::test {

inline LlamaConfig small_llama_config() {
  LlamaConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 50;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  return c;
}

}  // namespace lowbit::test
