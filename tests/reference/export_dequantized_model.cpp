// Writes a lowbit run's model with every quantized block dequantized (fp32 safetensors, config.json,
// tokenizer.json): the base that make_lora_cases.py loads into transformers, so PEFT's side and
// lowbit's side start from the same weights. Usage: export_dequantized_model RUN_DIR OUT_DIR
#include <cstdio>
#include <filesystem>

#include "evaluation/eval_model.h"
#include "framework/core/error.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: export_dequantized_model RUN_DIR OUT_DIR\n");
    return 2;
  }
  try {
    const lowbit::EvalTarget target = lowbit::resolve_eval_target(argv[1]);
    const lowbit::LlamaConfig config =
        lowbit::LlamaConfig::from_file((std::filesystem::path(target.model_dir) / "config.json").string());
    lowbit::LlamaWeights w = lowbit::load_eval_part(target, lowbit::whole_model_plan(config));
    lowbit::save_llama(w, argv[2]);
    std::filesystem::copy_file(std::filesystem::path(target.model_dir) / "tokenizer.json",
                               std::filesystem::path(argv[2]) / "tokenizer.json",
                               std::filesystem::copy_options::overwrite_existing);
    std::printf("%s -> %s\n", argv[1], argv[2]);
  } catch (const lowbit::Error& e) {
    std::fprintf(stderr, "export_dequantized_model: %s\n", e.what());
    return 1;
  }
}
