#include "framework/config/experiment_config.h"

#include <yaml-cpp/yaml.h>

#include "framework/config/yaml_reader.h"
#include "methods/method.h"

namespace lowbit {

ExperimentConfig ExperimentConfig::from_yaml(const std::string& path, const std::vector<std::string>& overrides) {
  YamlSection root = load_yaml_file(path, overrides);
  ExperimentConfig c;
  c.source = path;
  c.model_spec = root.get<std::string>("model");
  c.model = ModelRef::resolve(c.model_spec);

  YamlSection m = root.section("method");
  c.method = m.get<std::string>("name");
  c.method_config = YAML::Dump(m.node()) + "\n";
  // Validates the method's parameters (and finishes m), and against the model's shapes.
  MethodRegistry::builtin().get(c.method).create(m)->check_model(c.model.config, path);

  YamlSection cal = root.section("calibration");
  CalibrationConfig& k = c.calibration;
  k.source = cal.get<std::string>("source");
  k.style = cal.get<std::string>("style", k.style);
  k.join = cal.get<std::string>("join", k.join);
  k.nsamples = cal.get<int64_t>("nsamples", k.nsamples);
  k.seq_len = cal.get<int64_t>("seq_len", k.seq_len);
  k.seed = static_cast<uint64_t>(cal.get<int64_t>("seed", 0));
  cal.finish();
  LOWBIT_CHECK(k.style == "stream" || k.style == "documents" || k.style == "blocks", path,
               ": key 'calibration.style' must be stream, documents or blocks, got '", k.style, "'");
  LOWBIT_CHECK(k.nsamples >= 1 && k.seq_len >= 2, path, ": calibration.nsamples must be >= 1 and seq_len >= 2");
  LOWBIT_CHECK(k.seq_len <= c.model.config.max_position_embeddings, path, ": key 'calibration.seq_len' is ", k.seq_len,
               ", beyond the ", c.model.config.max_position_embeddings, " positions of ", c.model_spec,
               " (max_position_embeddings)");

  if (root.has("distributed")) {
    YamlSection d = root.section("distributed");
    c.distributed.device = d.get<std::string>("device", c.distributed.device);
    c.distributed.backend = d.get<std::string>("backend", c.distributed.backend);
    c.distributed.activations = d.get<std::string>("activations", c.distributed.activations);
    c.distributed.micro_batch = d.get<int64_t>("micro_batch", c.distributed.micro_batch);
    c.distributed.propagation = d.get<std::string>("propagation", c.distributed.propagation);
    c.distributed.threads = d.get<int>("threads", 0);
    d.finish();
  }
  const DistributedConfig& dc = c.distributed;
  LOWBIT_CHECK(dc.device == "auto" || dc.device == "cpu" || dc.device == "cuda", path,
               ": key 'distributed.device' must be auto, cpu or cuda, got '", dc.device, "'");
  LOWBIT_CHECK(dc.backend == "auto" || dc.backend == "mpi" || dc.backend == "nccl", path,
               ": key 'distributed.backend' must be auto, mpi or nccl, got '", dc.backend, "'");
  LOWBIT_CHECK(dc.backend != "nccl" || dc.device != "cpu", path,
               ": key 'distributed.backend' is nccl, which moves CUDA tensors, but distributed.device is cpu "
               "(use backend mpi or auto)");
  LOWBIT_CHECK(dc.activations == "model" || dc.activations == "float32", path,
               ": key 'distributed.activations' must be model or float32, got '", dc.activations, "'");
  LOWBIT_CHECK(c.distributed.propagation == "quantized" || c.distributed.propagation == "full_precision", path,
               ": key 'distributed.propagation' must be quantized or full_precision, got '", c.distributed.propagation, "'");
  LOWBIT_CHECK(c.distributed.micro_batch >= 1, path, ": key 'distributed.micro_batch' must be >= 1");

  YamlSection out = root.section("output");
  c.output.run_dir = out.get<std::string>("run_dir");
  c.output.keep_hessians = out.get<bool>("keep_hessians", false);
  c.output.statistics_cache = out.get<std::string>("statistics_cache", "");
  out.finish();
  root.finish();
  return c;
}

}  // namespace lowbit
