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
  YamlSection out = root.section("output");
  c.training.read(t, out);
  c.lr_scheduler_type = t.get<std::string>("lr_scheduler_type", c.lr_scheduler_type);
  c.warmup_ratio = t.get<double>("warmup_ratio", c.warmup_ratio);
  c.weight_decay = t.get<double>("weight_decay", c.weight_decay);
  t.finish();
  out.finish();
  root.finish();

  check_positive(c.source_max_len, path, "data.source_max_len");
  check_positive(c.target_max_len, path, "data.target_max_len");
  check_positive(c.heldout_examples, path, "data.heldout_examples");
  c.training.check(path);
  LOWBIT_CHECK(c.lr_scheduler_type == "constant" || c.lr_scheduler_type == "constant_with_warmup", path,
               ": key 'training.lr_scheduler_type' must be constant or constant_with_warmup, got '", c.lr_scheduler_type, "'");
  LOWBIT_CHECK(c.warmup_ratio >= 0 && c.warmup_ratio < 1, path, ": key 'training.warmup_ratio' must be in [0, 1), got ",
               c.warmup_ratio);
  return c;
}

TrainingSettings FinetuneConfig::qlora_training() {
  TrainingSettings t;
  t.steps = 10000;       // max_steps
  t.batch_size = 16;
  t.micro_batch = 16;
  t.lr = 2e-4;
  t.max_grad_norm = 0.3;
  t.seed = 42;           // data order (data_seed) and the adapters' initialisation
  t.eval_every = 1000;
  t.save_every = 500;
  return t;
}

OptimConfig FinetuneConfig::optim(int world) const {
  OptimConfig o = training.optim(world, source);
  o.schedule = lr_scheduler_type;
  // transformers: warmup_steps = ceil(warmup_ratio x max_steps); its "constant" schedule ignores it.
  o.warmup_steps = lr_scheduler_type == "constant"
                       ? 0
                       : static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(training.steps)));
  o.weight_decay = weight_decay;
  return o;
}

std::string FinetuneConfig::fingerprint() const {
  std::ostringstream s;
  s.precision(17);
  s << "base=" << base << ";model=" << model_override << ";train=" << train_data << ";src=" << source_max_len
    << ";tgt=" << target_max_len << ";r=" << lora.r << ";alpha=" << lora.alpha << ";dropout=" << lora.dropout
    << ";iec=" << lora.iec << ";targets=";
  for (const std::string& m : lora.target_modules) s << m << ",";
  const TrainingSettings& t = training;
  s << ";steps=" << t.steps << ";batch=" << t.batch_size << ";lr=" << t.lr << ";sched=" << lr_scheduler_type
    << ";warmup=" << warmup_ratio << ";wd=" << weight_decay << ";betas=" << t.beta1 << "," << t.beta2 << ";eps=" << t.eps
    << ";clip=" << t.max_grad_norm << ";seed=" << t.seed;
  return s.str();
}

}  // namespace lowbit
