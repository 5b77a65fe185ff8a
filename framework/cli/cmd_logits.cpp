// `lowbit logits MODEL_DIR|RUN_DIR --ids ...|--text ...`: a debug forward pass printing the logits
// of the last position (top-k and the first values), or saving all positions to a safetensors file.
// A run directory (or a fine-tuning output) runs with its quantized blocks (and adapters) in place,
// as evaluation does.
#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "evaluation/eval_model.h"
#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"
#include "framework/model/safetensors_writer.h"
#include "framework/model/tokenizer.h"

namespace lowbit::cli {
namespace {

struct LogitsArgs {
  std::string model;
  std::vector<int64_t> ids;
  std::string text;
  std::string dtype = "float32";
  int top = 10;
  std::string out;
};

void run(const LogitsArgs& a) {
  LOWBIT_CHECK(a.ids.empty() != a.text.empty(), "give either --ids or --text");
  LOWBIT_CHECK(a.dtype == "float32" || a.dtype == "bfloat16", "--dtype must be float32 or bfloat16, got '",
               a.dtype, "'");
  std::vector<int64_t> ids = a.ids;
  namespace fs = std::filesystem;
  const bool run = fs::exists(fs::path(a.model) / "manifest.json") || fs::exists(fs::path(a.model) / "finetune.json");
  EvalTarget target;  // a plain model directory is read as it is (no weight digests computed)
  if (run) target = resolve_eval_target(a.model);
  else target.model_dir = a.model;
  // With the model's tokenizer at hand, top tokens are shown as text too.
  const std::string tok_path = (std::filesystem::path(target.model_dir) / "tokenizer.json").string();
  std::optional<Tokenizer> tok;
  if (std::filesystem::exists(tok_path)) tok.emplace(Tokenizer::from_file(tok_path));
  if (!a.text.empty()) {
    LOWBIT_CHECK(tok.has_value(), tok_path, ": --text needs the model's tokenizer.json");
    for (int32_t id : tok->encode(a.text)) ids.push_back(id);
    LOWBIT_CHECK(!ids.empty(), "--text produced no tokens");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const c10::ScalarType dtype = a.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  LoadOptions opt;
  opt.dtype = dtype;
  const LlamaWeights w =
      run ? load_eval_part(target, whole_model_plan(LlamaConfig::from_file(target.model_dir + "/config.json")), c10::kCPU,
                           dtype)
          : load_llama(a.model, opt);
  const auto t1 = std::chrono::steady_clock::now();
  const at::Tensor input = at::tensor(ids, at::kLong).unsqueeze(0);  // [1, seq]
  const at::Tensor logits = forward(w, input)[0].contiguous();       // [seq, vocab]
  const auto t2 = std::chrono::steady_clock::now();
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  fmt::print("{} tokens, {} compute: load {:.1f} ms, forward {:.1f} ms\n", ids.size(), a.dtype, ms(t1 - t0),
             ms(t2 - t1));

  const at::Tensor last = logits[-1];  // [vocab]
  const auto top = last.topk(std::min<int64_t>(a.top, last.numel()));
  const at::Tensor values = std::get<0>(top), index = std::get<1>(top);
  fmt::print("last position: max |logit| {:.6f}, mean {:.6f}\n", last.abs().max().item<float>(),
             last.mean().item<float>());
  fmt::print("top {}:\n", values.numel());
  for (int64_t i = 0; i < values.numel(); ++i) {
    const int64_t id = index[i].item<int64_t>();
    const std::string text = tok && id < tok->size() ? fmt::format("  {:?}", tok->decode({static_cast<int32_t>(id)})) : "";
    fmt::print("  {:>8} {:>14.6f}{}\n", id, values[i].item<float>(), text);
  }
  std::string head;
  for (int64_t i = 0; i < std::min<int64_t>(8, last.numel()); ++i) head += fmt::format(" {:.6f}", last[i].item<float>());
  fmt::print("first values:{}\n", head);
  if (!a.out.empty()) {
    write_safetensors(a.out, {{"logits", DType::F32, {logits.size(0), logits.size(1)}, logits.data_ptr()}},
                      {{"model", a.model}, {"dtype", a.dtype}});
    fmt::print("saved logits [{}, {}] (fp32) to {}\n", logits.size(0), logits.size(1), a.out);
  }
}

}  // namespace

void add_logits(CLI::App& app) {
  auto a = std::make_shared<LogitsArgs>();
  auto* cmd = app.add_subcommand("logits", "Debug forward pass: the last position's logits");
  cmd->add_option("MODEL_DIR", a->model,
                  "Hugging Face model directory (a GPTQ / AWQ / compressed-tensors checkpoint too), lowbit run "
                  "directory (its dequantized blocks) or finetune output (adapters merged)")
      ->required();
  cmd->add_option("--ids", a->ids, "Token ids (space or comma separated)")->delimiter(',');
  cmd->add_option("--text", a->text, "Text, tokenized with MODEL_DIR/tokenizer.json");
  cmd->add_option("--dtype", a->dtype, "Compute dtype: float32 or bfloat16")->capture_default_str();
  cmd->add_option("--top", a->top, "How many top logits to print (>= 1)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--out", a->out, "Save the logits of every position ([seq, vocab] fp32) to this safetensors file");
  cmd->callback([a] { run(*a); });
}

}  // namespace lowbit::cli
