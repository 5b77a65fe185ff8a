#include "framework/train/pretrain.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "framework/core/error.h"
#include "framework/model/tokenizer.h"
#include "framework/train/causal_lm.h"
#include "framework/train/checkpoint.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

LlamaConfig model_config(const TrainConfig& t, const Tokenizer& tok) {
  const TrainModelConfig& m = t.model;
  LOWBIT_CHECK(m.hidden_size % m.num_attention_heads == 0 && m.num_attention_heads % m.num_key_value_heads == 0,
               t.source, ": model.hidden_size must be a multiple of num_attention_heads, and that of num_key_value_heads");
  LlamaConfig c;
  c.hidden_size = m.hidden_size;
  c.intermediate_size = m.intermediate_size;
  c.num_hidden_layers = m.num_hidden_layers;
  c.num_attention_heads = m.num_attention_heads;
  c.num_key_value_heads = m.num_key_value_heads;
  c.head_dim = m.hidden_size / m.num_attention_heads;
  c.vocab_size = tok.size();
  c.max_position_embeddings = m.max_position_embeddings;
  c.rms_norm_eps = m.rms_norm_eps;
  c.rope.theta = m.rope_theta;
  c.tie_word_embeddings = m.tie_word_embeddings;
  c.bos_token_id = tok.token_to_id("<|begin_of_text|>").value_or(-1);
  c.eos_token_id = tok.token_to_id("<|end_of_text|>").value_or(-1);
  return c;
}

}  // namespace

PretrainResult pretrain(const TrainConfig& cfg, int64_t stop_after_steps) {
  if (cfg.threads > 0) at::set_num_threads(cfg.threads);
  const Tokenizer tok = Tokenizer::from_file(cfg.tokenizer);
  const LlamaConfig mc = model_config(cfg, tok);

  std::printf("tokenizing %s and %s ...\n", cfg.train_text.c_str(), cfg.validation_text.c_str());
  const TrainingWindows data(tokenize_file(tok, cfg.train_text), cfg.seq_len, cfg.seed, cfg.train_text);
  const std::vector<TokenBatch> heldout = heldout_windows(tokenize_file(tok, cfg.validation_text), cfg.seq_len,
                                                          cfg.eval_windows, cfg.optim.micro_batch, cfg.validation_text);
  int64_t n_windows = 0;
  for (const TokenBatch& b : heldout) n_windows += b.inputs.size(0);

  const std::string ckpt = (fs::path(cfg.output_dir) / "checkpoint").string();
  const std::string resume = find_checkpoint(ckpt);
  TrainProgress progress;
  LlamaWeights w = resume.empty() ? init_llama(mc, cfg.seed, cfg.model.init_std)
                                  : load_checkpoint_model(resume, mc, cfg.fingerprint(), progress);
  TrainSpec spec = causal_lm_pretraining(w);
  AdamW optimizer(spec.params, cfg.optim);
  if (!resume.empty()) load_checkpoint_optimizer(resume, optimizer, progress);

  int64_t n_params = 0;
  for (const Parameter& p : spec.params) n_params += p.value.numel();
  std::printf("%s\n", fmt::format("model: {} parameters ({} blocks, hidden {}, vocab {}); {} training tokens, {} held-out "
                                  "windows of {}; {}",
                                  n_params, mc.num_hidden_layers, mc.hidden_size, mc.vocab_size, data.size(), n_windows,
                                  cfg.seq_len,
                                  resume.empty() ? std::string("starting from scratch")
                                                 : fmt::format("resuming from {} at step {}", resume, progress.step))
                          .c_str());
  const fs::path model_dir = fs::path(cfg.output_dir) / "model";
  PretrainResult result;
  if (progress.step >= cfg.optim.steps) {
    std::printf("training already complete (%lld steps); the model is in %s\n", static_cast<long long>(progress.step),
                model_dir.c_str());
    result.steps_done = progress.step;
    result.heldout_loss = heldout_loss(spec, heldout);
    result.complete = true;
    return result;
  }
  TrainConfig run_cfg = cfg;  // a run stopped early saves where it stops
  if (stop_after_steps > 0 && stop_after_steps < cfg.optim.steps) run_cfg.optim.steps = stop_after_steps;
  const auto save = [&](const TrainProgress& p) { save_checkpoint(ckpt, w, optimizer, p, cfg.fingerprint(), cfg.tokenizer); };
  const StepBatches batches = [&](int64_t step) {
    std::vector<TokenBatch> micro;
    for (int64_t m = 0; m < cfg.optim.grad_accum; ++m) micro.push_back(data.batch(step, m, cfg.optim.micro_batch));
    return micro;
  };
  train(spec, optimizer, run_cfg, batches, heldout, progress, save, cfg.optim.steps);

  result.steps_done = progress.step;
  result.heldout_loss = heldout_loss(spec, heldout);
  result.complete = progress.step >= cfg.optim.steps;
  if (!result.complete) {
    std::printf("stopped after step %lld of %lld; run again to resume\n", static_cast<long long>(progress.step),
                static_cast<long long>(cfg.optim.steps));
    return result;
  }
  // The finished model: a plain Hugging Face directory without optimizer state.
  save_llama(w, model_dir.string(), at::kFloat);
  fs::copy_file(cfg.tokenizer, model_dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  std::printf("done: held-out loss %.4f, perplexity %.3f over %lld windows; model in %s\n", result.heldout_loss,
              std::exp(result.heldout_loss), static_cast<long long>(n_windows), model_dir.c_str());
  return result;
}

}  // namespace lowbit
