#include "framework/train/finetune_config.h"

#include <cmath>
#include <sstream>

#include "framework/config/config_checks.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"

namespace lowbit {

FinetuneConfig FinetuneConfig::from_yaml(const std::string& path, const std::vector<std::string>& overrides) {
  YamlSection root = load_yaml_file(path, overrides);
  FinetuneConfig c;
  c.source = path;
  c.base = root.get<std::string>("base");
  c.model_override = root.get<std::string>("model", "");

  YamlSection d = root.section("data");
  c.train_data = d.get<std::string>("train");
  c.validation_data = d.get<std::string>("validation");
  c.source_max_len = d.get<int64_t>("source_max_len", c.source_max_len);
  c.target_max_len = d.get<int64_t>("target_max_len", c.target_max_len);
  c.heldout_examples = d.get<int64_t>("heldout_examples", c.heldout_examples);
  d.finish();

  if (root.has("lora")) {
    YamlSection l = root.section("lora");
    c.lora.r = l.get<int64_t>("r", c.lora.r);
    c.lora.alpha = l.get<double>("alpha", c.lora.alpha);
    c.lora.dropout = l.get<double>("dropout", c.lora.dropout);
    c.lora.target_modules = l.get<std::vector<std::string>>("target_modules", c.lora.target_modules);
    c.lora.iec = l.get<bool>("iec", c.lora.iec);
    l.finish();
  }

  YamlSection t = root.section("training");
  c.steps = t.get<int64_t>("steps", c.steps);
  c.batch_size = t.get<int64_t>("batch_size", c.batch_size);
  c.micro_batch = t.get<int64_t>("micro_batch", std::min(c.micro_batch, c.batch_size));
  c.lr = t.get<double>("lr", c.lr);
  c.lr_scheduler_type = t.get<std::string>("lr_scheduler_type", c.lr_scheduler_type);
  c.warmup_ratio = t.get<double>("warmup_ratio", c.warmup_ratio);
  c.weight_decay = t.get<double>("weight_decay", c.weight_decay);
  c.beta1 = t.get<double>("beta1", c.beta1);
  c.beta2 = t.get<double>("beta2", c.beta2);
  c.eps = t.get<double>("eps", c.eps);
  c.max_grad_norm = t.get<double>("max_grad_norm", c.max_grad_norm);
  c.seed = static_cast<uint64_t>(t.get<int64_t>("seed", static_cast<int64_t>(c.seed)));
  c.device = t.get<std::string>("device", c.device);
  c.threads = t.get<int>("threads", c.threads);
  c.eval_every = t.get<int64_t>("eval_every", c.eval_every);
  c.log_every = t.get<int64_t>("log_every", c.log_every);
  t.finish();

  YamlSection out = root.section("output");
  c.output_dir = out.get<std::string>("dir");
  c.save_every = out.get<int64_t>("save_every", c.save_every);
  out.finish();
  root.finish();

  check_positive(c.source_max_len, path, "data.source_max_len");
  check_positive(c.target_max_len, path, "data.target_max_len");
  check_positive(c.heldout_examples, path, "data.heldout_examples");
  check_positive(c.steps, path, "training.steps");
  check_positive(c.batch_size, path, "training.batch_size");
  check_positive(c.micro_batch, path, "training.micro_batch");
  check_positive(c.eval_every, path, "training.eval_every");
  check_positive(c.log_every, path, "training.log_every");
  check_positive(c.save_every, path, "output.save_every");
  LOWBIT_CHECK(c.lr > 0 && std::isfinite(c.lr), path, ": key 'training.lr' must be positive, got ", c.lr);
  LOWBIT_CHECK(c.lr_scheduler_type == "constant" || c.lr_scheduler_type == "constant_with_warmup", path,
               ": key 'training.lr_scheduler_type' must be constant or constant_with_warmup, got '", c.lr_scheduler_type, "'");
  LOWBIT_CHECK(c.warmup_ratio >= 0 && c.warmup_ratio < 1, path, ": key 'training.warmup_ratio' must be in [0, 1), got ",
               c.warmup_ratio);
  LOWBIT_CHECK(c.max_grad_norm >= 0, path, ": key 'training.max_grad_norm' must be >= 0 (0: no clipping)");
  LOWBIT_CHECK(c.device == "auto" || c.device == "cpu" || c.device == "cuda", path,
               ": key 'training.device' must be auto, cpu or cuda, got '", c.device, "'");
  return c;
}

OptimConfig FinetuneConfig::optim(int world) const {
  LOWBIT_CHECK(batch_size % (static_cast<int64_t>(world) * micro_batch) == 0, source, ": training.batch_size (",
               batch_size, ") must be a multiple of the ranks (", world, ") times training.micro_batch (", micro_batch,
               "): each rank takes an equal slice of every batch");
  OptimConfig o;
  o.steps = steps;
  o.micro_batch = micro_batch;
  o.grad_accum = batch_size / (static_cast<int64_t>(world) * micro_batch);
  o.lr = lr;
  o.schedule = lr_scheduler_type;
  // transformers: warmup_steps = ceil(warmup_ratio x max_steps); its "constant" schedule ignores it.
  o.warmup_steps = lr_scheduler_type == "constant" ? 0 : static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(steps)));
  o.weight_decay = weight_decay;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.eps = eps;
  o.grad_clip = max_grad_norm;
  return o;
}

std::string FinetuneConfig::fingerprint() const {
  std::ostringstream s;
  s.precision(17);
  s << "base=" << base << ";model=" << model_override << ";train=" << train_data << ";src=" << source_max_len
    << ";tgt=" << target_max_len << ";r=" << lora.r << ";alpha=" << lora.alpha << ";dropout=" << lora.dropout
    << ";iec=" << lora.iec << ";targets=";
  for (const std::string& m : lora.target_modules) s << m << ",";
  s << ";steps=" << steps << ";batch=" << batch_size << ";lr=" << lr << ";sched=" << lr_scheduler_type
    << ";warmup=" << warmup_ratio << ";wd=" << weight_decay << ";betas=" << beta1 << "," << beta2 << ";eps=" << eps
    << ";clip=" << max_grad_norm << ";seed=" << seed;
  return s.str();
}

}  // namespace lowbit
