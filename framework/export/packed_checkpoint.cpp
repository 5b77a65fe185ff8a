#include "framework/export/packed_checkpoint.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/model/safetensors.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string prefix_of(const TensorSpec& weight) {
  const std::string suffix = ".weight";
  LOWBIT_ASSERT(weight.name.size() > suffix.size() &&
                    weight.name.compare(weight.name.size() - suffix.size(), suffix.size(), suffix) == 0,
                "not a weight: ", weight.name);
  return weight.name.substr(0, weight.name.size() - suffix.size());
}

// safetensors dtype -> ATen, for the integer and float tensors packed checkpoints hold.
std::optional<c10::ScalarType> aten_type(DType t) {
  switch (t) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    default: return std::nullopt;
  }
}

}  // namespace

std::optional<PackedCheckpoint> PackedCheckpoint::open(const std::string& model_dir) {
  const std::string config_path = (fs::path(model_dir) / "config.json").string();
  const json config = parse_json_object(read_file(config_path), config_path);
  json qc;
  std::string where = config_path;
  if (config.contains("quantization_config") && !config["quantization_config"].is_null()) {
    qc = config["quantization_config"];
  } else if (const fs::path legacy = fs::path(model_dir) / "quantize_config.json"; fs::exists(legacy)) {
    where = legacy.string();  // AutoGPTQ-era GPTQ checkpoints keep their settings here only
    qc = parse_json_object(read_file(where), where);
    if (!qc.contains("quant_method")) qc["quant_method"] = "gptq";
  } else {
    return std::nullopt;
  }
  LOWBIT_CHECK(qc.is_object(), where, ": field 'quantization_config' is not an object");
  const std::string method = config_field<std::string>(qc, "quant_method", "", where);
  std::string names;
  for (const PackedFormat& f : packed_formats()) names += (names.empty() ? "" : ", ") + f.name;
  const PackedFormat* format = find_packed_format(method);
  LOWBIT_CHECK(format, where, ": field 'quantization_config.quant_method' is '", method, "'; lowbit reads packed ",
               names, " checkpoints (dequantized on load)");
  PackedCheckpoint c;
  c.format_ = format;
  c.scheme_ = format->parse(qc, where);
  return c;
}

bool PackedCheckpoint::holds(const SafetensorsModel& model, const TensorSpec& weight) const {
  return model.contains(tensor_names(weight).front());
}

std::vector<std::string> PackedCheckpoint::tensor_names(const TensorSpec& weight) const {
  std::vector<std::string> names;
  for (const auto& l : format_->layout(scheme_, weight.shape[0], weight.shape[1]))
    names.push_back(prefix_of(weight) + "." + l.suffix);
  return names;
}

QuantizedLinear PackedCheckpoint::read(SafetensorsModel& model, const TensorSpec& weight) const {
  const std::string prefix = prefix_of(weight);
  const int64_t out = weight.shape[0], in = weight.shape[1];
  const auto layout = format_->layout(scheme_, out, in);
  const std::string where_model = model.sharded() ? model.dir() + "/model.safetensors.index.json" : model.dir() + "/model.safetensors";
  const PackedTensorGetter get = [&](const std::string& suffix) {
    const auto l = std::find_if(layout.begin(), layout.end(), [&](const auto& x) { return x.suffix == suffix; });
    LOWBIT_ASSERT(l != layout.end(), "no tensor ", suffix, " in the ", format_->name, " layout");
    const std::string name = prefix + "." + suffix;
    LOWBIT_CHECK(model.contains(name), where_model, ": missing tensor '", name, "' of the ", format_->name,
                 " linear ", prefix, " [", out, ", ", in, "] (a truncated or foreign checkpoint?)");
    const TensorView v = model.view(name);
    const std::optional<c10::ScalarType> type = aten_type(v.info->dtype);
    const bool float_expected = c10::isFloatingType(l->dtype);
    LOWBIT_CHECK(type && (float_expected ? c10::isFloatingType(*type) : *type == l->dtype), *v.file, ": tensor '", name,
                 "' has dtype ", dtype_name(v.info->dtype), ", expected ",
                 float_expected ? std::string("F16, BF16 or F32") : std::string(c10::toString(l->dtype)), " (",
                 format_->name, " layout)");
    LOWBIT_CHECK(v.info->shape == l->shape, *v.file, ": tensor '", name, "' has shape ", shape_to_string(v.info->shape),
                 ", but a ", scheme_.bits, "-bit ", format_->name, " linear [", out, ", ", in, "] in groups of ",
                 scheme_.group_size == 0 ? std::string("one row") : std::to_string(scheme_.group_size), " needs ",
                 shape_to_string(l->shape));
    at::Tensor t = at::from_blob(const_cast<std::byte*>(v.data), v.info->shape, at::TensorOptions().dtype(*type)).clone();
    model.release(name);
    return t;
  };
  return format_->unpack(get, scheme_, out, in, model.file_of(tensor_names(weight).front()) + ": " + prefix);
}

}  // namespace lowbit
