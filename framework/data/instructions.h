// Instruction data in the Alpaca format ({instruction, input, output} records, as a JSON array or
// JSON Lines), the Alpaca prompt template, and QLoRA's tokenization for supervised fine-tuning
// (qlora.py's DataCollatorForCausalLM): source = BOS + prompt truncated to source_max tokens,
// target = response + EOS truncated to target_max, the loss on the target tokens only.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

class Tokenizer;
struct TokenBatch;

struct InstructionExample {
  std::string instruction, input, output;
};

// Every record of a .json (an array of objects) or .jsonl file; a record lacking `instruction` or
// `output` as a string (or with a non-string `input`) is refused naming the file and the record.
std::vector<InstructionExample> read_instructions(const std::string& path);

// The Alpaca prompt (with or without the input paragraph), ending in "### Response: ".
std::string alpaca_prompt(const InstructionExample& e);

struct TokenizedExample {
  std::vector<int32_t> ids;  // source then target
  int64_t source_len = 0;    // the first source_len ids carry no loss
};
TokenizedExample tokenize_instruction(const Tokenizer& tok, const InstructionExample& e, int32_t bos, int32_t eos,
                                      int64_t source_max, int64_t target_max);

// Right-padded micro-batch: inputs [batch, T] (padding id `pad`), next-token targets [batch, T] with
// -100 on the source, on padding and after the last token. T = the longest example.
TokenBatch collate_instructions(const std::vector<const TokenizedExample*>& examples, int32_t pad);

}  // namespace lowbit
