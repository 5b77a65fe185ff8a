#include "framework/train/peft_adapter.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/model/safetensors.h"
#include "framework/model/safetensors_writer.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A key that must be absent, null, false or empty for lowbit to apply the adapter as PEFT would.
void refuse_if_set(const json& c, const char* key, const std::string& path, const char* what) {
  const auto it = c.find(key);
  if (it == c.end() || it->is_null()) return;
  const bool set = it->is_boolean() ? it->get<bool>() : (it->is_object() || it->is_array()) ? !it->empty() : true;
  LOWBIT_CHECK(!set, path, ": field '", key, "' = ", it->dump(), ": ", what, " is not supported by lowbit");
}

}  // namespace

bool is_peft_adapter_dir(const std::string& dir) { return fs::exists(fs::path(dir) / "adapter_config.json"); }

void save_peft_adapter(const std::string& dir, const LoraModel& lora, const std::string& base_model_name) {
  fs::create_directories(dir);
  const LoraConfig& c = lora.config();
  const json config = {{"peft_type", "LORA"},
                       {"task_type", "CAUSAL_LM"},
                       {"base_model_name_or_path", base_model_name},
                       {"r", c.r},
                       {"lora_alpha", c.alpha},
                       {"lora_dropout", c.dropout},
                       {"target_modules", c.target_modules},
                       {"bias", "none"},
                       {"fan_in_fan_out", false},
                       {"inference_mode", true},
                       {"init_lora_weights", true},
                       {"use_rslora", false},
                       {"use_dora", false},
                       {"modules_to_save", nullptr},
                       {"layers_to_transform", nullptr},
                       {"rank_pattern", json::object()},
                       {"alpha_pattern", json::object()},
                       {"revision", nullptr}};
  write_file_atomic((fs::path(dir) / "adapter_config.json").string(), config.dump(2) + "\n");

  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const Parameter& p : lora.parameters()) {
    keep.push_back(p.value.detach().to(at::kCPU, at::kFloat).contiguous());
    tensors.push_back({p.name, DType::F32, keep.back().sizes().vec(), keep.back().data_ptr()});
  }
  write_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
}

LoraModel load_peft_adapter(const std::string& dir, const LlamaConfig& model, c10::Device device) {
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  const json c = parse_json_object(read_file(config_path), config_path);
  LOWBIT_CHECK(c.value("peft_type", "") == "LORA", config_path, ": field 'peft_type' is ",
               c.contains("peft_type") ? c["peft_type"].dump() : std::string("missing"), "; lowbit applies LORA adapters");
  LoraConfig lora;
  try {
    lora.r = c.at("r").get<int64_t>();
    lora.alpha = c.at("lora_alpha").get<double>();
    lora.dropout = c.value("lora_dropout", 0.0);
  } catch (const json::exception& e) {
    LOWBIT_FAIL(config_path, ": fields 'r' and 'lora_alpha' must be numbers (", e.what(), ")");
  }
  const json targets = c.value("target_modules", json());
  LOWBIT_CHECK(targets.is_array(), config_path, ": field 'target_modules' must be a list of module names (a regular ",
               "expression is not supported by lowbit)");
  lora.target_modules.clear();
  for (const json& t : targets) {
    LOWBIT_CHECK(t.is_string(), config_path, ": field 'target_modules' must hold strings");
    lora.target_modules.push_back(t.get<std::string>());
  }
  refuse_if_set(c, "use_dora", config_path, "DoRA");
  LOWBIT_CHECK(c.value("bias", "none") == "none", config_path, ": field 'bias' = ", c["bias"].dump(),
               ": trained biases are not supported by lowbit");
  refuse_if_set(c, "lora_bias", config_path, "a trained bias");
  refuse_if_set(c, "fan_in_fan_out", config_path, "transposed (Conv1D) weights");
  refuse_if_set(c, "layers_to_transform", config_path, "adapting only some layers");
  refuse_if_set(c, "rank_pattern", config_path, "a per-module rank");
  refuse_if_set(c, "alpha_pattern", config_path, "a per-module alpha");
  refuse_if_set(c, "modules_to_save", config_path, "fully trained extra modules");
  refuse_if_set(c, "exclude_modules", config_path, "excluded modules");
  refuse_if_set(c, "layer_replication", config_path, "layer replication");
  refuse_if_set(c, "trainable_token_indices", config_path, "trainable tokens");
  refuse_if_set(c, "target_parameters", config_path, "adapters on parameters");
  refuse_if_set(c, "use_qalora", config_path, "QA-LoRA");

  const std::string tensors_path = (fs::path(dir) / "adapter_model.safetensors").string();
  LOWBIT_CHECK(fs::exists(tensors_path), dir, ": no adapter_model.safetensors",
               fs::exists(fs::path(dir) / "adapter_model.bin")
                   ? " (adapter_model.bin is a pickle, which lowbit does not read: load it with peft and "
                     "save_pretrained(..., safe_serialization=True))"
                   : "");
  SafetensorsFile f(tensors_path);
  bool iec = false;
  for (const auto& [name, info] : f.tensors())
    if (name.find("lora_default_A_scale") != std::string::npos) iec = true;
  lora.iec = iec;
  lora.check(model, config_path);

  LoraModel m = make_lora_model(model, lora, device);
  if (c.value("use_rslora", false)) {  // rank-stabilised scaling alpha / sqrt(r)
    for (int64_t layer = 0; layer < m.layers(); ++layer)
      for (const LoraTarget& t : lora_linears())
        m.block(layer).at(t.tensor).scaling = lora.alpha / std::sqrt(static_cast<double>(lora.r));
  }
  std::set<std::string> expected;
  for (const Parameter& p : m.parameters()) {
    expected.insert(p.name);
    LOWBIT_CHECK(f.contains(p.name), tensors_path, ": missing tensor '", p.name, "'");
    const TensorView v = f.view(p.name);
    LOWBIT_CHECK(dtype_is_weight_float(v.info->dtype), tensors_path, ": tensor '", p.name, "' has dtype ",
                 dtype_name(v.info->dtype), "; expected F32, F16 or BF16");
    LOWBIT_CHECK(v.info->shape == p.value.sizes().vec(), tensors_path, ": tensor '", p.name, "' has shape ",
                 shape_to_string(v.info->shape), "; this model's adapter needs ", shape_to_string(p.value.sizes().vec()));
    const at::Tensor t = at::from_blob(const_cast<std::byte*>(v.data), v.info->shape,
                                       at::TensorOptions().dtype(scalar_type(v.info->dtype)));
    LOWBIT_CHECK(t.isfinite().all().item<bool>(), tensors_path, ": tensor '", p.name, "' has non-finite values");
    at::Tensor target = p.value;
    target.copy_(t.to(at::kFloat));
  }
  for (const auto& [name, info] : f.tensors())
    LOWBIT_CHECK(expected.count(name), tensors_path, ": tensor '", name, "' is not an adapter of this model and config (",
                 "a layer beyond the model's ", model.num_hidden_layers, ", a module outside target_modules, or ",
                 "another naming)");
  return m;
}

}  // namespace lowbit
