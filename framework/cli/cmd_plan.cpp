// `lowbit plan --model M --ranks P [--device-memory 80GiB] ...`: the block ranges and per-rank
// memory of a pipeline calibration, from the architecture alone (no weights are read).
#include <CLI/CLI.hpp>
#include <fmt/format.h>


#include "framework/cli/commands.h"
#include "framework/config/yaml_reader.h"
#include "methods/method.h"
#include "framework/config/model_ref.h"
#include "framework/core/error.h"
#include "framework/core/units.h"
#include "framework/dist/partition_plan.h"

namespace lowbit::cli {
namespace {

struct PlanArgs {
  std::string model;
  PlanSettings settings;
  std::string device_memory;
  std::string device = "cuda";
  bool no_hessians = false;
  bool no_head = false;
  std::string method;  // a registered method: its declared needs set Hessians, linear inputs, propagation
};

std::string gib(uint64_t b) { return human_bytes(double(b)); }

void run(PlanArgs a) {
  const ModelRef m = ModelRef::resolve(a.model);
  PlanSettings s = a.settings;
  LOWBIT_CHECK(a.device == "cuda" || a.device == "cpu", "--device must be cuda or cpu, got '", a.device, "'");
  // As the run computes (docs/devices.md): on CUDA the checkpoint's dtype, on CPU float32.
  if (s.weight_dtype.empty()) s.weight_dtype = a.device == "cuda" ? m.dtype : "float32";
  if (s.activation_dtype.empty()) s.activation_dtype = s.weight_dtype;
  s.hessians = !a.no_hessians;
  if (!a.method.empty()) {  // the method says what it holds, with its default parameters
    YamlSection params = load_yaml_text("{}", "--method " + a.method);
    const MethodNeeds n = MethodRegistry::builtin().get(a.method).create(params)->needs();
    s.hessians = !a.no_hessians && (n.needs(Statistic::Hessian) || n.needs(Statistic::HessianF64));
    s.hessians_f64 = n.needs(Statistic::HessianF64);
    s.linear_inputs = n.linear_inputs;
    s.block_training = n.trains_block;
    s.full_precision = s.full_precision || n.propagation == "full_precision";
  }
  s.head = !a.no_head;
  const PartitionPlan plan = make_partition_plan(m.config, s);
  const LlamaConfig& c = m.config;
  fmt::print("plan: {} ({} blocks, hidden {}, intermediate {}, vocab {}), {} rank{}, weights {}{}\n", m.name,
             c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.vocab_size, s.ranks, s.ranks > 1 ? "s" : "",
             s.weight_dtype, m.has_weights ? "" : " (architecture preset; no weights read)");
  fmt::print("device {}, calibration {} x {} tokens, activations {}, micro-batch {}, Hessians {}{}{}{}\n", a.device,
             s.samples, s.seq_len, s.activation_dtype, s.micro_batch, s.hessians ? (s.hessians_f64 ? "yes (float64 sums, float32)" : "yes (float32)") : "no",
             std::string(s.linear_inputs ? ", the block's linear inputs cached (in activations)" : "") +
                 (s.block_training ? ", block training (latent weights, gradients, AdamW moments)" : ""),
             s.full_precision ? ", full-precision propagation" : "",
             a.method.empty() ? "" : " (method " + a.method + ")");
  const uint64_t limit = a.device_memory.empty() ? 0 : parse_bytes(a.device_memory, "--device-memory");
  fmt::print("{:>4}  {:<18} {:>12} {:>12} {:>12} {:>12} {:>12}{}\n", "rank", "blocks", "weights", "activations",
             "hessians", "workspace", "total", limit ? "  fits " + a.device_memory : "");
  bool all_fit = true;
  uint64_t peak = 0;
  for (const RankPlan& r : plan.ranks) {
    std::string blocks = fmt::format("{}-{}", r.first_block, r.end_block - 1);
    if (r.embedding) blocks += " +emb";
    if (r.head) blocks += " +head";
    const bool fits = !limit || r.total() <= limit;
    all_fit = all_fit && fits;
    peak = std::max(peak, r.total());
    fmt::print("{:>4}  {:<18} {:>12} {:>12} {:>12} {:>12} {:>12}{}\n", r.rank, blocks, gib(r.weight_bytes),
               gib(r.activation_bytes), gib(r.hessian_bytes), gib(r.workspace_bytes), gib(r.total()),
               limit ? (fits ? "  yes" : "  NO") : "");
  }
  fmt::print("model weights {}, largest rank {}", gib(plan.model_weight_bytes), gib(peak));
  if (limit)
    fmt::print(" -> {}\n", all_fit ? fmt::format("fits in {} per device", a.device_memory)
                                   : fmt::format("does NOT fit in {} per device: use more ranks, fewer samples or a "
                                                 "shorter seq_len", a.device_memory));
  else
    fmt::print("\n");
}

}  // namespace

void add_plan(CLI::App& app) {
  auto a = std::make_shared<PlanArgs>();
  a->settings.weight_dtype = "";
  a->settings.activation_dtype = "";
  auto* cmd = app.add_subcommand("plan", "Per-rank block ranges and memory of a pipeline run (no weights needed)");
  cmd->add_option("--model", a->model, "configs/models/*.yaml, a model directory or a config.json")->required();
  cmd->add_option("--ranks", a->settings.ranks, "Pipeline ranks (one per GPU)")->capture_default_str();
  cmd->add_option("--device-memory", a->device_memory, "Memory per device, e.g. 80GiB: say whether each rank fits");
  cmd->add_option("--samples", a->settings.samples, "Calibration sequences")->capture_default_str();
  cmd->add_option("--seq-len", a->settings.seq_len, "Calibration sequence length")->capture_default_str();
  cmd->add_option("--micro-batch", a->settings.micro_batch, "Sequences per forward")->capture_default_str();
  cmd->add_option("--device", a->device,
                  "cuda | cpu: sets the default dtypes as a run on it computes (cuda: the model's dtype for weights "
                  "and activations; cpu: float32); statistics are float32 on both")
      ->capture_default_str();
  cmd->add_option("--dtype", a->settings.weight_dtype, "Weight dtype (default: the model's on cuda, float32 on cpu)");
  cmd->add_option("--activation-dtype", a->settings.activation_dtype, "Activation dtype (default: the weights')");
  cmd->add_option("--method", a->method,
                  "A registered method: what it declares (Hessians, cached linear inputs, full-precision "
                  "propagation) sets the estimate");
  cmd->add_flag("--no-hessians", a->no_hessians, "The method needs no Hessians (RTN, AWQ, ...)");
  cmd->add_flag("--full-precision", a->settings.full_precision,
                "Full-precision propagation: ranks but the last hold a third activation buffer while running ahead");
  cmd->add_flag("--no-head", a->no_head, "Quantization only: the last rank does not load final norm + lm_head");
  cmd->callback([a] { run(*a); });
}

}  // namespace lowbit::cli
