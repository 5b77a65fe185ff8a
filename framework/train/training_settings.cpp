#include "framework/train/training_settings.h"

#include <cmath>
#include <sstream>

#include "framework/config/config_checks.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"

namespace lowbit {

void TrainingSettings::read(YamlSection& t, YamlSection& out) {
  steps = t.get<int64_t>("steps", steps);
  batch_size = t.get<int64_t>("batch_size", batch_size);
  micro_batch = t.get<int64_t>("micro_batch", std::min(micro_batch, batch_size));
  lr = t.get<double>("lr", lr);
  beta1 = t.get<double>("beta1", beta1);
  beta2 = t.get<double>("beta2", beta2);
  eps = t.get<double>("eps", eps);
  max_grad_norm = t.get<double>("max_grad_norm", max_grad_norm);
  seed = static_cast<uint64_t>(t.get<int64_t>("seed", static_cast<int64_t>(seed)));
  device = t.get<std::string>("device", device);
  threads = t.get<int>("threads", threads);
  eval_every = t.get<int64_t>("eval_every", eval_every);
  log_every = t.get<int64_t>("log_every", log_every);
  output_dir = out.get<std::string>("dir");
  save_every = out.get<int64_t>("save_every", save_every);
}

void TrainingSettings::check(const std::string& path) const {
  check_positive(steps, path, "training.steps");
  check_positive(batch_size, path, "training.batch_size");
  check_positive(micro_batch, path, "training.micro_batch");
  check_positive(eval_every, path, "training.eval_every");
  check_positive(log_every, path, "training.log_every");
  check_positive(save_every, path, "output.save_every");
  LOWBIT_CHECK(lr > 0 && std::isfinite(lr), path, ": key 'training.lr' must be positive, got ", lr);
  LOWBIT_CHECK(max_grad_norm >= 0, path, ": key 'training.max_grad_norm' must be >= 0 (0: no clipping)");
  LOWBIT_CHECK(device == "auto" || device == "cpu" || device == "cuda", path,
               ": key 'training.device' must be auto, cpu or cuda, got '", device, "'");
}

OptimConfig TrainingSettings::optim(int world, const std::string& source) const {
  LOWBIT_CHECK(batch_size % (static_cast<int64_t>(world) * micro_batch) == 0, source, ": training.batch_size (",
               batch_size, ") must be a multiple of the ranks (", world, ") times training.micro_batch (", micro_batch,
               "): each rank takes an equal slice of every batch");
  OptimConfig o;
  o.steps = steps;
  o.micro_batch = micro_batch;
  o.grad_accum = batch_size / (static_cast<int64_t>(world) * micro_batch);
  o.lr = lr;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.eps = eps;
  o.grad_clip = max_grad_norm;
  return o;
}

std::string TrainingSettings::fingerprint() const {
  std::ostringstream s;
  s.precision(17);
  s << "steps=" << steps << ";batch=" << batch_size << ";lr=" << lr << ";betas=" << beta1 << "," << beta2
    << ";eps=" << eps << ";clip=" << max_grad_norm << ";seed=" << seed;
  return s.str();
}

}  // namespace lowbit
