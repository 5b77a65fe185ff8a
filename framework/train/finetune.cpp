#include "framework/train/finetune.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include "evaluation/eval_model.h"
#include "framework/core/device.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/core/splitmix.h"
#include "framework/data/instructions.h"
#include "framework/dist/communicator.h"
#include "framework/dist/rank_devices.h"
#include "framework/model/tokenizer.h"
#include "framework/train/causal_lm.h"
#include "framework/train/checkpoint.h"
#include "framework/train/peft_adapter.h"
#include "framework/train/training_run.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The order examples are visited in: a fresh permutation of the training set per epoch, drawn from
// (seed, epoch), so step s's batch is a function of s alone (resume and any world size agree).
class ExampleOrder {
 public:
  ExampleOrder(int64_t n, uint64_t seed) : n_(n), seed_(seed) {}
  int64_t at(int64_t global_index) {
    const int64_t epoch = global_index / n_;
    auto it = perms_.find(epoch);
    if (it == perms_.end()) {
      if (perms_.size() > 2) perms_.erase(perms_.begin());
      std::vector<int64_t> p(static_cast<std::size_t>(n_));
      std::iota(p.begin(), p.end(), 0);
      uint64_t state = splitmix64(seed_ ^ splitmix64(static_cast<uint64_t>(epoch)));
      for (int64_t i = n_ - 1; i > 0; --i) {  // Fisher-Yates
        state = splitmix64(state);
        std::swap(p[static_cast<std::size_t>(i)], p[state % static_cast<uint64_t>(i + 1)]);
      }
      it = perms_.emplace(epoch, std::move(p)).first;
    }
    return it->second[static_cast<std::size_t>(global_index % n_)];
  }

 private:
  int64_t n_;
  uint64_t seed_;
  std::map<int64_t, std::vector<int64_t>> perms_;
};

std::vector<TokenizedExample> tokenize_all(const Tokenizer& tok, const std::vector<InstructionExample>& examples,
                                           const FinetuneConfig& cfg, int32_t bos, int32_t eos, int64_t limit) {
  std::vector<TokenizedExample> out;
  for (int64_t i = 0; i < std::min<int64_t>(limit, static_cast<int64_t>(examples.size())); ++i)
    out.push_back(tokenize_instruction(tok, examples[static_cast<std::size_t>(i)], bos, eos, cfg.source_max_len,
                                       cfg.target_max_len));
  return out;
}

// Adapter dropout whose masks depend only on (the micro-batch's key, layer, linear): a resumed run
// draws the masks an uninterrupted one would. Off without gradients (held-out loss).
AdapterDropout make_dropout(double p, const uint64_t* batch_key) {
  return [p, batch_key](int64_t layer, BlockTensor linear, const at::Tensor& x) {
    if (!c10::GradMode::is_enabled()) return x;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
        splitmix64(*batch_key ^ splitmix64(static_cast<uint64_t>(layer) * 16 + static_cast<uint64_t>(linear))));
    const at::Tensor keep = at::empty(x.sizes(), at::kFloat).bernoulli_(1.0 - p, gen).to(x.device(), x.scalar_type());
    return x * keep / (1.0 - p);
  };
}

}  // namespace

FinetuneResult finetune(const FinetuneConfig& cfg, int64_t stop_after_steps) {
  Communicator& mpi = world();
  const int rank = mpi.rank(), size = mpi.size();
  const RankDevices devices = training_devices(cfg.training, cfg.source);
  Communicator& comm = devices.pipeline(mpi);

  EvalTarget base;
  OptimConfig optim;
  std::vector<TokenizedExample> train_set, heldout_set;
  LlamaConfig model_config;
  collective_step(comm, [&] {
    optim = cfg.optim(size);
    base = resolve_eval_target(cfg.base, cfg.model_override);
    model_config = LlamaConfig::from_file((fs::path(base.model_dir) / "config.json").string());
    cfg.lora.check(model_config, cfg.source);
    LOWBIT_CHECK(model_config.bos_token_id >= 0 && model_config.eos_token_id >= 0, base.model_dir,
                 "/config.json: bos_token_id and eos_token_id are needed to frame instruction examples");
    const Tokenizer tok = Tokenizer::from_file((fs::path(base.model_dir) / "tokenizer.json").string());
    const auto bos = static_cast<int32_t>(model_config.bos_token_id), eos = static_cast<int32_t>(model_config.eos_token_id);
    train_set = tokenize_all(tok, read_instructions(cfg.train_data), cfg, bos, eos, INT64_MAX);
    heldout_set = tokenize_all(tok, read_instructions(cfg.validation_data), cfg, bos, eos, cfg.heldout_examples);
  });

  // The frozen base, whole on every rank, dequantized once in the compute dtype (no gradients).
  const RankPlan whole = whole_model_plan(model_config);
  const ComputeDtypes dtypes = compute_dtypes(devices.device, model_config, "model");
  LlamaWeights w;
  collective_step(comm, [&] { w = load_eval_part(base, whole, devices.device, dtypes.weights); });

  const fs::path out(cfg.training.output_dir);
  // What a checkpoint must have been made with: the settings and the very base it trained on.
  const std::string fingerprint =
      cfg.fingerprint() + ";base_run=" + base.run_fingerprint + ";base_model=" + base.model_fingerprint;
  // One finetune per output directory: rank 0 holds its lock for the job (docs/reliability.md).
  const TrainingOutput output = open_training_output(comm, cfg.training.output_dir, "finetune", cfg.source);
  const std::string& resume = output.resume;
  TrainProgress progress;
  LoraModel lora;
  collective_step(comm, [&] {
    if (resume.empty()) {
      lora = LoraModel::init(model_config, cfg.lora, cfg.training.seed, devices.device);
    } else {
      load_trainer_state(resume, fingerprint, progress);
      lora = load_peft_adapter(resume, model_config, devices.device);
    }
  });
  uint64_t batch_key = 0;  // the micro-batch being computed, for dropout's masks
  for (int64_t l = 0; l < lora.layers(); ++l)
    if (cfg.lora.dropout > 0) lora.block(l).dropout = make_dropout(cfg.lora.dropout, &batch_key);
  lora.attach(w);

  TrainSpec spec;
  spec.params = lora.parameters();
  const c10::Device device = devices.device;
  spec.loss = [&w, &batch_key, device](const TokenBatch& b) {
    batch_key = b.key;
    return causal_lm_loss(w, {b.inputs.to(device), b.targets.to(device), b.tokens, b.key});
  };
  make_data_parallel(spec, comm);  // the same adapters on any world size
  AdamW optimizer(spec.params, optim);
  if (!resume.empty()) load_checkpoint_optimizer(resume, optimizer, progress);

  // Batches: global batch s covers examples order[s·B ... s·B + B); rank r takes its contiguous
  // slice of B/P, in micro-batches of micro_batch.
  ExampleOrder order(static_cast<int64_t>(train_set.size()), cfg.training.seed);
  const int64_t per_rank = cfg.training.batch_size / size;
  const StepBatches batches = [&](int64_t step) {
    std::vector<TokenBatch> micro;
    for (int64_t first = 0; first < per_rank; first += cfg.training.micro_batch) {
      std::vector<const TokenizedExample*> examples;
      for (int64_t i = first; i < first + cfg.training.micro_batch; ++i)
        examples.push_back(&train_set[static_cast<std::size_t>(order.at(step * cfg.training.batch_size + rank * per_rank + i))]);
      micro.push_back(collate_instructions(examples, static_cast<int32_t>(model_config.eos_token_id)));
      // The micro-batch's place in the global batch: its dropout masks' key.
      micro.back().key = splitmix64(cfg.training.seed ^ splitmix64(static_cast<uint64_t>(step * cfg.training.batch_size + rank * per_rank + first)));
    }
    return micro;
  };
  std::vector<TokenBatch> heldout;
  for (std::size_t first = 0; first < heldout_set.size(); first += static_cast<std::size_t>(cfg.training.micro_batch)) {
    std::vector<const TokenizedExample*> examples;
    for (std::size_t i = first; i < std::min(heldout_set.size(), first + static_cast<std::size_t>(cfg.training.micro_batch)); ++i)
      examples.push_back(&heldout_set[i]);
    heldout.push_back(collate_instructions(examples, static_cast<int32_t>(model_config.eos_token_id)));
  }

  int64_t n_adapter = 0;
  for (const Parameter& p : spec.params) n_adapter += p.value.numel();
  if (rank == 0)
    std::printf("%s", fmt::format("finetune: base {} ({}), {} adapter parameters (r {}, alpha {}{}), {} training / {} "
                                    "held-out examples, global batch {} = {} rank(s) x {} micro-batch(es) of {}; {}{}",
                                    cfg.base, base.quantized ? "method " + base.method : std::string("unquantized"),
                                    n_adapter, cfg.lora.r, cfg.lora.alpha, cfg.lora.iec ? ", IEC" : "",
                                    train_set.size(), heldout_set.size(), cfg.training.batch_size, size, optim.grad_accum,
                                    cfg.training.micro_batch, devices.banner(),
                                    resume.empty() ? std::string("starting\n")
                                                   : fmt::format("resuming from {} at step {}\n", resume, progress.step))
                            .c_str());
  std::fflush(stdout);

  FinetuneResult result;
  // The base's held-out loss: the model without its adapters.
  const auto base_heldout = [&] {
    for (BlockWeights& b : w.blocks) b.adapters = nullptr;
    const double loss = heldout_loss(spec, heldout);
    lora.attach(w);
    return loss;
  };
  const double base_loss = base_heldout();
  const fs::path manifest = out / kFinetuneManifest;

  const TrainConfig loop =
      loop_settings(cfg.source, optim, stop_after_steps, cfg.training);
  const std::string base_name = base.model_name;
  const auto save = checkpoint_saver(output, rank, optimizer, fingerprint,
                                     [&](const std::string& tmp) { save_peft_adapter(tmp, lora, base_name); });
  if (rank == 0 && progress.step == 0)
    std::printf("held-out response loss of the base: %.4f over %zu examples\n", base_loss, heldout_set.size());
  if (progress.step < optim.steps) train(spec, optimizer, loop, batches, heldout, progress, save, optim.steps);

  result.steps_done = progress.step;
  // The loop evaluated after its last step; a run that had nothing left to do evaluates now.
  const bool evaluated = !progress.history.empty() && progress.history.back().step == progress.step &&
                         progress.history.back().heldout_loss >= 0;
  result.heldout_loss = evaluated ? progress.history.back().heldout_loss : heldout_loss(spec, heldout);
  result.base_heldout_loss = base_loss;
  result.complete = progress.step >= optim.steps;
  if (!result.complete) {
    report_stopped(rank, progress, optim);
    return result;
  }
  if (rank == 0) {
    const fs::path adapter = out / kFinetuneAdapterDir;
    const fs::path tmp = out / (std::string(kFinetuneAdapterDir) + ".tmp");
    fs::remove_all(tmp);
    save_peft_adapter(tmp.string(), lora, base_name);
    fs::remove_all(adapter);
    fs::rename(tmp, adapter);
    const json info = {{"format", "lowbit-finetune"},
                       {"version", 1},
                       {"base", fs::absolute(cfg.base).lexically_normal().string()},
                       {"base_quantized", base.quantized},
                       {"base_method", base.method},
                       {"model", base.model_dir},
                       {"model_fingerprint", base.model_fingerprint},
                       {"run_fingerprint", base.run_fingerprint},
                       {"adapter", kFinetuneAdapterDir},
                       {"lora", {{"r", cfg.lora.r}, {"alpha", cfg.lora.alpha}, {"dropout", cfg.lora.dropout},
                                 {"target_modules", cfg.lora.target_modules}, {"iec", cfg.lora.iec}}},
                       {"steps", progress.step},
                       {"batch_size", cfg.training.batch_size},
                       {"train_data", cfg.train_data},
                       {"config_fingerprint", fingerprint},
                       {"base_heldout_loss", result.base_heldout_loss},
                       {"heldout_loss", result.heldout_loss}};
    write_file_atomic(manifest.string(), info.dump(2) + "\n");
    std::printf("done: held-out response loss %.4f (base %.4f) over %zu examples; adapter in %s\n", result.heldout_loss,
                result.base_heldout_loss, heldout_set.size(), adapter.c_str());
  }
  comm.barrier();
  return result;
}

}  // namespace lowbit
