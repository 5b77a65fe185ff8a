#include "framework/train/distill_config.h"

#include <cmath>
#include <sstream>

#include "framework/config/config_checks.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"

namespace lowbit {

DistillConfig DistillConfig::from_yaml(const std::string& path, const std::vector<std::string>& overrides) {
  YamlSection root = load_yaml_file(path, overrides);
  DistillConfig c;
  c.source = path;
  c.base = root.get<std::string>("base");
  c.model_override = root.get<std::string>("model", "");
  c.loss = parse_distillation_loss(root.get<std::string>("loss", distillation_loss_name(c.loss)), path + ": key 'loss'");

  YamlSection d = root.section("data");
  c.train_text = d.get<std::string>("train");
  c.validation_text = d.get<std::string>("validation");
  c.seq_len = d.get<int64_t>("seq_len", c.seq_len);
  c.heldout_windows = d.get<int64_t>("heldout_windows", c.heldout_windows);
  d.finish();

  YamlSection t = root.section("training");
  YamlSection out = root.section("output");
  c.training.read(t, out);
  c.schedule = t.get<std::string>("schedule", c.schedule);
  t.finish();
  out.finish();
  root.finish();

  check_positive(c.seq_len, path, "data.seq_len");
  check_positive(c.heldout_windows, path, "data.heldout_windows");
  c.training.check(path);
  LOWBIT_CHECK(c.schedule == "constant" || c.schedule == "cosine", path,
               ": key 'training.schedule' must be constant or cosine, got '", c.schedule, "'");
  return c;
}

TrainingSettings DistillConfig::distill_training() {
  TrainingSettings t;
  t.steps = 500;
  t.batch_size = 8;
  t.micro_batch = 1;
  t.lr = 1e-2;
  return t;
}

OptimConfig DistillConfig::optim(int world) const {
  OptimConfig o = training.optim(world, source);
  o.schedule = schedule;
  o.min_lr_ratio = 0;
  o.weight_decay = 0;
  return o;
}

std::string DistillConfig::fingerprint() const {
  std::ostringstream s;
  s.precision(17);
  s << "base=" << base << ";model=" << model_override << ";train=" << train_text << ";seq=" << seq_len
    << ";loss=" << distillation_loss_name(loss) << ";sched=" << schedule << ";" << training.fingerprint();
  return s.str();
}

}  // namespace lowbit
