// `mpirun -np P lowbit eval RUN_DIR|MODEL_DIR --tasks wikitext2,c4,piqa,...`: the study's evaluation
// over the pipeline; writes the results document and prints the one-table summary on rank 0.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "evaluation/eval_model.h"
#include "evaluation/evaluate.h"
#include "evaluation/results_file.h"
#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/dist/communicator.h"

namespace lowbit::cli {

namespace fs = std::filesystem;

void add_eval(CLI::App& app) {
  struct Args {
    std::string target, tasks = "wikitext2,c4,ptb,piqa,arc_easy,arc_challenge,hellaswag,winogrande", out, model, adapter;
    std::vector<std::string> data;
    int threads = 0;
    EvalSettings s;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "eval", "Evaluate a model or a quantized run: perplexity, zero-shot tasks, MMLU; visual benchmarks on LLaVA-NeXT");
  cmd->add_option("TARGET", a->target,
                  "A lowbit run directory (manifest.json), a lowbit finetune output (finetune.json: its base with "
                  "the adapters merged) or a Hugging Face model directory (plain, or a GPTQ / AWQ / compressed-tensors "
                  "checkpoint, dequantized on load)")
      ->required();
  cmd->add_option("--tasks", a->tasks,
                  "Comma-separated: wikitext2, c4, ptb, piqa, arc_easy, arc_challenge, hellaswag, winogrande, mmlu; "
                  "on a LLaVA-NeXT model also ai2d, chartqa, docvqa, mmbench_en, mme (docs/multimodal.md)")
      ->capture_default_str();
  cmd->add_option("--data-dir", a->s.data_dir, "Directory with the data sets in lowbit's layout (docs/evaluation.md)")
      ->capture_default_str();
  cmd->add_option("--data", a->data, "TASK=FILE: read a task's data from FILE instead (repeatable)");
  cmd->add_option("--seq-len", a->s.seq_len, "Perplexity window length")->capture_default_str();
  cmd->add_option("--limit", a->s.limit, "At most N windows / documents / questions per subject (0: all)")
      ->capture_default_str();
  cmd->add_option("--c4-windows", a->s.c4_windows, "C4 perplexity: random windows drawn (seed 0)")->capture_default_str();
  cmd->add_option("--micro-batch", a->s.micro_batch,
                  "Sequences per forward (multiple choice with shared contexts: questions per forward; visual "
                  "tasks: questions generated together)")
      ->capture_default_str();
  cmd->add_flag("!--no-shared-contexts", a->s.share_contexts,
                "Run every multiple-choice request whole instead of each question's context once (slower; the "
                "same log-likelihoods to rounding)");
  cmd->add_flag("--log-samples", a->s.log_samples, "Visual tasks: keep every response in the results document");
  cmd->add_option("--tokenization", a->s.tokenization,
                  "Multiple-choice requests: 'separate' (context and continuation tokenized apart, the study's "
                  "harness) or 'joint' (lm-eval 0.4)")
      ->capture_default_str();
  cmd->add_option("--mmlu-shots", a->s.mmlu_shots, "MMLU dev examples per prompt")->capture_default_str();
  cmd->add_option("--mmlu-max-tokens", a->s.mmlu_max_tokens, "MMLU: shots are dropped while the prompt is longer")
      ->capture_default_str();
  cmd->add_option("--model", a->model, "Base model directory of a run (default: the one in its manifest)");
  cmd->add_option("--adapter", a->adapter,
                  "A PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors, e.g. trained "
                  "by peft) merged into TARGET's weights; results go to ADAPTER/results.json by default");
  cmd->add_option("--threads", a->threads, "libtorch intra-op threads per rank (0: libtorch's default)");
  cmd->add_option("--device", a->s.device,
                  "auto | cpu | cuda: where each rank computes (auto: CUDA when a GPU is visible; rank r uses GPU "
                  "local_rank mod devices; CUDA in the checkpoint's dtype, CPU in float32)")
      ->capture_default_str();
  cmd->add_option("--backend", a->s.backend,
                  "auto | mpi | nccl: hidden states between ranks (auto: NCCL between GPUs with one rank each, else "
                  "MPI, staging through host memory)")
      ->capture_default_str();
  cmd->add_option("--out", a->out,
                  "Results file (default: RUN_DIR/results.json for a run, ./results-<model>.json for a model)");
  cmd->callback([a] {
    Communicator& comm = world();
    EvalTarget target;
    collective_step(comm, [&] {
      if (a->threads > 0) at::set_num_threads(a->threads);
      a->s.tasks.clear();
      for (std::size_t pos = 0; pos <= a->tasks.size();) {
        const std::size_t comma = std::min(a->tasks.find(',', pos), a->tasks.size());
        if (comma > pos) a->s.tasks.push_back(a->tasks.substr(pos, comma - pos));
        pos = comma + 1;
      }
      LOWBIT_CHECK(!a->s.tasks.empty(), "--tasks is empty");
      for (const std::string& d : a->data) {
        const std::size_t eq = d.find('=');
        LOWBIT_CHECK(eq != std::string::npos && eq > 0, "--data expects TASK=FILE, got '", d, "'");
        a->s.data_files[d.substr(0, eq)] = d.substr(eq + 1);
      }
      // Rank 0 first: the first use of a model digests its weights and caches them; the other
      // ranks then read the cache instead of every rank reading every weight.
      if (comm.rank() == 0) target = resolve_eval_target(a->target, a->model);
      if (comm.rank() == 0 && !a->adapter.empty()) attach_adapter(target, a->adapter);
    });
    collective_step(comm, [&] {
      if (comm.rank() != 0) target = resolve_eval_target(a->target, a->model);
      if (comm.rank() != 0 && !a->adapter.empty()) attach_adapter(target, a->adapter);
      if (a->out.empty())
        a->out = !a->adapter.empty()                        ? (fs::path(a->adapter) / "results.json").string()
                 : target.quantized || !target.adapter_dir.empty() ? (fs::path(a->target) / "results.json").string()
                                                             : "results-" + target.model_name + ".json";
      if (comm.rank() == 0) check_results_file(a->out, target_json(target));  // before hours of work
    });
    const nlohmann::json results = evaluate(target, a->s, comm);
    if (comm.rank() != 0) return;
    const nlohmann::json merged = write_results(a->out, results);  // adds to what the file holds
    std::printf("\n%s\nresults: %s (%zu result%s kept)\n", summary_table({merged}).c_str(), a->out.c_str(),
                merged["results"].size(), merged["results"].size() == 1 ? "" : "s");
  });
}

}  // namespace lowbit::cli
