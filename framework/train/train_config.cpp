#include "framework/train/train_config.h"

#include <sstream>

#include "framework/config/config_checks.h"
#include "framework/config/yaml_reader.h"

namespace lowbit {

TrainConfig TrainConfig::from_yaml(const std::string& path) {
  YamlSection root = load_yaml_file(path);
  TrainConfig c;
  c.source = path;

  YamlSection m = root.section("model");
  TrainModelConfig& mc = c.model;
  mc.hidden_size = m.get<int64_t>("hidden_size");
  mc.intermediate_size = m.get<int64_t>("intermediate_size");
  mc.num_hidden_layers = m.get<int64_t>("num_hidden_layers");
  mc.num_attention_heads = m.get<int64_t>("num_attention_heads");
  mc.num_key_value_heads = m.get<int64_t>("num_key_value_heads", mc.num_attention_heads);
  mc.rope_theta = m.get<double>("rope_theta", mc.rope_theta);
  mc.rms_norm_eps = m.get<double>("rms_norm_eps", mc.rms_norm_eps);
  mc.max_position_embeddings = m.get<int64_t>("max_position_embeddings", mc.max_position_embeddings);
  mc.tie_word_embeddings = m.get<bool>("tie_word_embeddings", mc.tie_word_embeddings);
  mc.init_std = m.get<double>("init_std", mc.init_std);
  m.finish();

  c.tokenizer = root.get<std::string>("tokenizer");
  YamlSection d = root.section("data");
  c.train_text = d.get<std::string>("train");
  c.validation_text = d.get<std::string>("validation");
  c.seq_len = d.get<int64_t>("seq_len", c.seq_len);
  d.finish();

  YamlSection t = root.section("training");
  OptimConfig& o = c.optim;
  c.seed = static_cast<uint64_t>(t.get<int64_t>("seed", 0));
  c.threads = t.get<int>("threads", 0);
  o.steps = t.get<int64_t>("steps");
  o.micro_batch = t.get<int64_t>("micro_batch", o.micro_batch);
  o.grad_accum = t.get<int64_t>("grad_accum", o.grad_accum);
  o.lr = t.get<double>("lr", o.lr);
  o.schedule = t.get<std::string>("schedule", o.schedule);
  o.warmup_steps = t.get<int64_t>("warmup_steps", o.warmup_steps);
  o.min_lr_ratio = t.get<double>("min_lr_ratio", o.min_lr_ratio);
  o.weight_decay = t.get<double>("weight_decay", o.weight_decay);
  o.beta1 = t.get<double>("beta1", o.beta1);
  o.beta2 = t.get<double>("beta2", o.beta2);
  o.eps = t.get<double>("eps", o.eps);
  o.grad_clip = t.get<double>("grad_clip", o.grad_clip);
  const std::string dtype = t.get<std::string>("dtype", "float32");
  t.finish();

  YamlSection e = root.section("eval");
  c.eval_every = e.get<int64_t>("every", c.eval_every);
  c.eval_windows = e.get<int64_t>("windows", c.eval_windows);
  e.finish();

  YamlSection out = root.section("output");
  c.output_dir = out.get<std::string>("dir");
  c.save_every = out.get<int64_t>("save_every", c.save_every);
  c.log_every = out.get<int64_t>("log_every", c.log_every);
  out.finish();
  root.finish();

  check_positive(mc.hidden_size, path, "model.hidden_size");
  check_positive(mc.num_hidden_layers, path, "model.num_hidden_layers");
  check_positive(c.seq_len, path, "data.seq_len");
  check_positive(o.steps, path, "training.steps");
  check_positive(o.micro_batch, path, "training.micro_batch");
  check_positive(o.grad_accum, path, "training.grad_accum");
  check_positive(c.eval_every, path, "eval.every");
  check_positive(c.eval_windows, path, "eval.windows");
  check_positive(c.save_every, path, "output.save_every");
  check_positive(c.log_every, path, "output.log_every");
  LOWBIT_CHECK(o.schedule == "cosine" || o.schedule == "constant", path, ": key 'training.schedule' must be cosine or constant, got '",
               o.schedule, "'");
  LOWBIT_CHECK(o.lr > 0 && o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.eps > 0, path,
               ": training.lr must be positive and beta1/beta2 in [0, 1)");
  LOWBIT_CHECK(o.warmup_steps >= 0 && o.warmup_steps <= o.steps, path,
               ": key 'training.warmup_steps' must be within [0, steps]");
  LOWBIT_CHECK(dtype == "float32", path, ": key 'training.dtype' is '", dtype,
               "'; training runs in float32 (bf16 training is not available yet)");
  LOWBIT_CHECK(c.seq_len <= mc.max_position_embeddings, path, ": data.seq_len (", c.seq_len,
               ") exceeds model.max_position_embeddings (", mc.max_position_embeddings, ")");
  return c;
}

std::string TrainConfig::fingerprint() const {
  std::ostringstream s;
  s.precision(17);
  const TrainModelConfig& m = model;
  const OptimConfig& o = optim;
  s << "model " << m.hidden_size << ' ' << m.intermediate_size << ' ' << m.num_hidden_layers << ' '
    << m.num_attention_heads << ' ' << m.num_key_value_heads << ' ' << m.rope_theta << ' ' << m.rms_norm_eps << ' '
    << m.max_position_embeddings << ' ' << m.tie_word_embeddings << ' ' << m.init_std << "\n"
    << "data " << tokenizer << ' ' << train_text << ' ' << validation_text << ' ' << seq_len << "\n"
    << "optim " << o.steps << ' ' << o.micro_batch << ' ' << o.grad_accum << ' ' << o.lr << ' ' << o.schedule << ' '
    << o.warmup_steps << ' ' << o.min_lr_ratio << ' ' << o.weight_decay << ' ' << o.beta1 << ' ' << o.beta2 << ' '
    << o.eps << ' ' << o.grad_clip << "\nseed " << seed << "\n";
  return s.str();
}

}  // namespace lowbit
