#include "framework/config/model_ref.h"

#include <filesystem>

#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "framework/model/llama_presets.h"

namespace lowbit {

namespace fs = std::filesystem;

ModelRef ModelRef::resolve(const std::string& spec) {
  ModelRef m;
  const fs::path p(spec);
  if (p.extension() == ".yaml" || p.extension() == ".yml") {
    YamlSection y = load_yaml_file(spec);
    m.name = y.get<std::string>("name");
    m.path = y.get<std::string>("path", "");
    m.architecture = y.get<std::string>("architecture", "");
    m.dtype = y.get<std::string>("dtype", m.dtype);
    y.finish();
    LOWBIT_CHECK(m.dtype == "bfloat16" || m.dtype == "float16" || m.dtype == "float32", spec,
                 ": key 'dtype' must be bfloat16, float16 or float32, got '", m.dtype, "'");
  } else {
    m.path = p.filename() == "config.json" ? p.parent_path().string() : spec;
    m.name = fs::path(m.path).filename().string();
  }
  const fs::path config = fs::path(m.path) / "config.json";
  std::error_code ec;  // a name the system cannot stat (too long, no permission) is "not there", not a throw
  if (!m.path.empty() && fs::exists(config, ec)) {
    m.config = LlamaConfig::from_file(config.string());
    m.has_weights = true;
    if (p.extension() != ".yaml" && p.extension() != ".yml") m.dtype = m.config.torch_dtype;
  } else {
    LOWBIT_CHECK(!m.architecture.empty(), spec, ": ", m.path.empty() ? "no 'path'" : config.string() + " does not exist",
                 ", and no 'architecture' preset to plan from");
    m.config = llama_preset(m.architecture);
  }
  return m;
}

}  // namespace lowbit
