// Where the tests find their data: set by CMake (see tests/CMakeLists.txt).
#pragma once

#include <cstdlib>
#include <string>

namespace lowbit::test {

// Directory the reference scripts write into (ctest runs them first as fixtures).
inline std::string reference_dir() { return LOWBIT_TEST_REFERENCE_DIR; }
// The real Llama 3 tokenizer of ../shared/fixtures.
inline std::string llama3_tokenizer() { return LOWBIT_TEST_LLAMA3_TOKENIZER; }
// The committed small model, lowbit-tiny-llama3 (config.json, model.safetensors, tokenizer.json).
inline std::string tiny_model_dir() { return LOWBIT_TEST_FIXTURES_DIR "/models/lowbit-tiny-llama3"; }
// The small model's corpus, prepared by launch/prepare_tiny_corpus.py (a ctest fixture).
inline std::string tiny_corpus_dir() { return LOWBIT_TEST_TINY_CORPUS_DIR; }
// The project's small instruction set (launch/prepare_tiny_instructions.py, a ctest fixture).
inline std::string tiny_instructions_dir() { return LOWBIT_TEST_TINY_INSTRUCTIONS_DIR; }
// The LoRA fixtures' runs: nf4, nf4-icq (lowbit quantize), qlora, irqlora (lowbit finetune).
inline std::string lora_runs_dir() { return LOWBIT_TEST_LORA_RUNS_DIR; }

}  // namespace lowbit::test
