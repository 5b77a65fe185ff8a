#include "framework/train/distill.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "evaluation/eval_model.h"
#include "framework/core/device.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/core/xxhash64.h"
#include "framework/dist/communicator.h"
#include "framework/dist/rank_devices.h"
#include "framework/model/llama_forward.h"
#include "framework/model/tokenizer.h"
#include "framework/train/checkpoint.h"
#include "framework/train/distillation_loss.h"
#include "framework/train/dual_binary_student.h"
#include "framework/train/trainer.h"
#include "framework/train/training_run.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// KL and the student's perplexity over the held-out windows (every rank computes all of them), and
// the teacher's perplexity from the same forward passes when `teacher_ppl` is given.
HeldoutDistillation measure(const LlamaWeights& teacher, const DualBinaryStudent& student,
                            const std::vector<TokenBatch>& heldout, c10::Device device, double* teacher_ppl = nullptr) {
  c10::NoGradGuard no_grad;
  double kl = 0, nll = 0, teacher_nll = 0, tokens = 0;
  for (const TokenBatch& b : heldout) {
    const at::Tensor ids = b.inputs.to(device), targets = b.targets.to(device).reshape({-1});
    const at::Tensor t = forward(teacher, ids), s = student.logits(ids);  // [n, L, vocab] fp32
    const at::Tensor ts = t.reshape({-1, t.size(-1)}), ss = s.reshape({-1, s.size(-1)});
    kl += distillation_terms(ts, ss, DistillationLoss::Kl).kl.sum().item<double>();
    nll += at::cross_entropy_loss(ss, targets, {}, at::Reduction::Sum).item<double>();
    if (teacher_ppl) teacher_nll += at::cross_entropy_loss(ts, targets, {}, at::Reduction::Sum).item<double>();
    tokens += static_cast<double>(targets.numel());
  }
  if (teacher_ppl) *teacher_ppl = std::exp(teacher_nll / tokens);
  return {kl / tokens, std::exp(nll / tokens)};
}

}  // namespace

DistillResult distill(const DistillConfig& cfg, int64_t stop_after_steps) {
  Communicator& mpi = world();
  const int rank = mpi.rank(), size = mpi.size();
  const RankDevices devices = training_devices(cfg.training, cfg.source);
  Communicator& comm = devices.pipeline(mpi);
  const c10::Device device = devices.device;

  EvalTarget run, base_model;
  OptimConfig optim;
  LlamaConfig model_config;
  std::unique_ptr<TrainingWindows> data;
  std::vector<TokenBatch> heldout;
  collective_step(comm, [&] {
    optim = cfg.optim(size);
    run = resolve_eval_target(cfg.base, cfg.model_override);
    LOWBIT_CHECK(run.quantized && run.adapter_dir.empty() && run.scales_file.empty(), cfg.source, ": key 'base': ",
                 cfg.base, " is not a lowbit run directory (distillation trains a db-llm run's scales)");
    LOWBIT_CHECK(run.method == "db-llm", cfg.source, ": key 'base': ", cfg.base, " is a run of method '", run.method,
                 "'; distillation trains the dual-binary scales of a db-llm run");
    LOWBIT_CHECK(!fs::exists(cfg.training.output_dir) || !fs::equivalent(cfg.training.output_dir, cfg.base), cfg.source,
                 ": key 'output.dir' is the base run's directory; the trained scales go beside the run, not into it");
    base_model = resolve_eval_target(run.model_dir);
    model_config = LlamaConfig::from_file((fs::path(run.model_dir) / "config.json").string());
    const Tokenizer tok = Tokenizer::from_file((fs::path(run.model_dir) / "tokenizer.json").string());
    data = std::make_unique<TrainingWindows>(tokenize_file(tok, cfg.train_text), cfg.seq_len, cfg.training.seed, cfg.train_text);
    heldout = heldout_windows(tokenize_file(tok, cfg.validation_text), cfg.seq_len, cfg.heldout_windows,
                              cfg.training.micro_batch, cfg.validation_text);
  });

  // The teacher (the run's base model) and the student over it, whole on every rank.
  const RankPlan whole = whole_model_plan(model_config);
  const ComputeDtypes dtypes = compute_dtypes(device, model_config, "model");
  LlamaWeights teacher;
  std::unique_ptr<DualBinaryStudent> student;
  if (rank == 0) {
    std::printf("distill: loading the teacher (%s, %s) and the student (run %s) on every rank ...\n",
                run.model_dir.c_str(), float_dtype_name(dtypes.weights).c_str(), cfg.base.c_str());
    std::fflush(stdout);
  }
  collective_step(comm, [&] {
    teacher = load_eval_part(base_model, whole, device, dtypes.weights);
    student = std::make_unique<DualBinaryStudent>(DualBinaryStudent::of_run(run, teacher));
  });

  const fs::path out(cfg.training.output_dir);
  const std::string fingerprint =
      cfg.fingerprint() + ";base_run=" + run.run_fingerprint + ";base_model=" + run.model_fingerprint;
  // One distillation per output directory (docs/reliability.md).
  const TrainingOutput output = open_training_output(comm, cfg.training.output_dir, "distill", cfg.source);
  const std::string& resume = output.resume;
  TrainProgress progress;
  DistillResult result;
  // Before training: the stage-1 scales (measured again by a resumed run, before it loads its checkpoint).
  collective_step(comm, [&] {
    result.before = measure(teacher, *student, heldout, device, &result.teacher_perplexity);
    if (!resume.empty()) {
      load_trainer_state(resume, fingerprint, progress);
      student->load_scales((fs::path(resume) / kDistillScalesFile).string());
    }
  });

  TrainSpec spec;
  spec.params = student->parameters();
  const DistillationLoss loss_kind = cfg.loss;
  spec.loss = [&teacher, &student, device, loss_kind](const TokenBatch& b) {
    const at::Tensor ids = b.inputs.to(device);
    at::Tensor t;
    {
      c10::NoGradGuard no_grad;
      t = forward(teacher, ids);  // [n, L, vocab] fp32
    }
    const at::Tensor s = student->logits(ids);
    const at::Tensor mask = b.targets.to(device).reshape({-1}).ne(-100);
    return distillation_loss(t.reshape({-1, t.size(-1)}), s.reshape({-1, s.size(-1)}), mask, loss_kind);
  };
  make_data_parallel(spec, comm);  // the same scales on any world size
  spec.loss_is_nll = false;        // a (weighted) KL
  AdamW optimizer(spec.params, optim);
  if (!resume.empty()) load_checkpoint_optimizer(resume, optimizer, progress);

  // Batches: rank r computes micro-batches r·A .. r·A + A − 1 of each step (A = grad_accum), so a
  // step's windows are the same on any world size.
  const StepBatches batches = [&](int64_t step) {
    std::vector<TokenBatch> micro;
    for (int64_t m = 0; m < optim.grad_accum; ++m)
      micro.push_back(data->batch(step, rank * optim.grad_accum + m, cfg.training.micro_batch));
    return micro;
  };

  int64_t n_scales = 0, n_heldout = 0;
  for (const Parameter& p : spec.params) n_scales += p.value.numel();
  for (const TokenBatch& b : heldout) n_heldout += b.inputs.size(0);
  if (rank == 0) {
    std::printf("%s", fmt::format("distill: run {} ({} linears, {} scales), loss {}, {} training tokens, {} held-out "
                                    "window(s) of {}, global batch {} = {} rank(s) x {} micro-batch(es) of {}; {}{}",
                                    cfg.base, spec.params.size(), n_scales, distillation_loss_name(cfg.loss),
                                    data->size(), n_heldout,
                                    cfg.seq_len, cfg.training.batch_size, size, optim.grad_accum, cfg.training.micro_batch,
                                    devices.banner(),
                                    resume.empty() ? std::string("starting\n")
                                                   : fmt::format("resuming from {} at step {}\n", resume, progress.step))
                            .c_str());
    std::printf("held-out: teacher perplexity %.4f; stage-1 student KL %.5f, perplexity %.4f\n",
                result.teacher_perplexity, result.before.kl, result.before.perplexity);
    std::fflush(stdout);
  }

  const TrainConfig loop =
      loop_settings(cfg.source, optim, stop_after_steps, cfg.training);
  const auto save = checkpoint_saver(output, rank, optimizer, fingerprint, [&](const std::string& tmp) {
    student->save_scales((fs::path(tmp) / kDistillScalesFile).string());
  });
  if (progress.step < optim.steps) train(spec, optimizer, loop, batches, heldout, progress, save, optim.steps);

  result.steps_done = progress.step;
  result.complete = progress.step >= optim.steps;
  if (!result.complete) {
    report_stopped(rank, progress, optim);
    return result;
  }
  collective_step(comm, [&] { result.after = measure(teacher, *student, heldout, device); });
  if (rank == 0) {
    const fs::path scales = out / kDistillScalesFile;
    student->save_scales(scales.string());  // written atomically
    const std::string bytes = read_file(scales.string());
    const auto held = [](const HeldoutDistillation& h) { return json{{"kl", h.kl}, {"perplexity", h.perplexity}}; };
    const json info = {{"format", "lowbit-distill"},
                       {"version", 1},
                       {"base", fs::absolute(cfg.base).lexically_normal().string()},
                       {"base_method", run.method},
                       {"model", run.model_dir},
                       {"model_fingerprint", run.model_fingerprint},
                       {"run_fingerprint", run.run_fingerprint},
                       {"scales", kDistillScalesFile},
                       {"scales_xxh64", xxhash64_hex(bytes.data(), bytes.size())},
                       {"loss", distillation_loss_name(cfg.loss)},
                       {"steps", progress.step},
                       {"batch_size", cfg.training.batch_size},
                       {"seq_len", cfg.seq_len},
                       {"lr", cfg.training.lr},
                       {"schedule", cfg.schedule},
                       {"train_data", cfg.train_text},
                       {"validation_data", cfg.validation_text},
                       {"config_fingerprint", fingerprint},
                       {"heldout", {{"windows", cfg.heldout_windows},
                                    {"teacher_perplexity", result.teacher_perplexity},
                                    {"before", held(result.before)},
                                    {"after", held(result.after)}}}};
    write_file_atomic((out / kDistillManifest).string(), info.dump(2) + "\n");
    std::printf("done: held-out KL %.5f -> %.5f, perplexity %.4f -> %.4f (teacher %.4f); scales in %s\n",
                result.before.kl, result.after.kl, result.before.perplexity, result.after.perplexity,
                result.teacher_perplexity, scales.c_str());
  }
  comm.barrier();
  return result;
}

}  // namespace lowbit
