// compressed-tensors' pack-quantized layout (what vLLM reads natively, and transformers through the
// compressed-tensors package), weight-only integer quantization:
//   weight_packed     int32 [out, ceil(in*bits/32)]  q + 2^(bits-1) as a dense bit stream along the input
//   weight_scale      model dtype [out, groups]      ([out, 1] per channel)
//   weight_zero_point int32 [ceil(out*bits/32), groups]  asymmetric only: zp + 2^(bits-1), packed along the output
//   weight_shape      int64 [2]                      (out, in)
// Its q and zp are signed (q in [-2^(b-1), 2^(b-1))): with lowbit's unsigned code c and zero z,
// q = c - 2^(b-1) and zp = z - 2^(b-1), so both stored values are lowbit's own, and
// w = scale * (q - zp) = scale * (c - z). Symmetric means zp = 0 (z = 2^(b-1)) and no zero tensor.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "framework/core/error.h"
#include "framework/export/bit_packing.h"
#include "framework/export/packed_formats.h"
#include "methods/common/artifact_formats.h"

namespace lowbit {
namespace {

using nlohmann::json;

int64_t words(int64_t n, int bits) { return (n * bits + 31) / 32; }

std::string refuses(const QuantizedLinear& q, const PackedScheme&) {
  if (q.bits != 4 && q.bits != 8)
    return fmt::format("lowbit writes compressed-tensors checkpoints of 4 or 8 bits (what vLLM's kernels run), not "
                       "{}-bit: `--format gptq` packs 2 and 3 bits",
                       q.bits);
  const int64_t in = q.tensors.at("codes").size(1);
  if (q.group_size > 0 && in % q.group_size != 0)
    return fmt::format("its group size {} does not divide its {} input columns", q.group_size, in);
  if (!consecutive_groups(q.tensors.at("g_idx"), q.group_size))
    return "its columns are permuted among groups (GPTQ act-order); lowbit's compressed-tensors export stores no "
           "g_idx: `--format gptq` does";
  return "";
}

std::vector<std::pair<std::string, at::Tensor>> pack(const QuantizedLinear& q, const PackedScheme& s) {
  const at::Tensor codes = q.tensors.at("codes").to(at::kCPU);  // [out, in] u8
  std::vector<std::pair<std::string, at::Tensor>> t{
      {"weight_packed", pack_bits(codes, q.bits)},
      {"weight_scale", rounded_scales(q.tensors.at("scale"), s.scale_dtype, "weight_scale").contiguous()}};
  if (!s.symmetric) {
    const at::Tensor zeros = q.tensors.at("zero").to(at::kCPU, at::kInt);  // [out, groups]
    t.emplace_back("weight_zero_point", pack_bits(zeros.t().contiguous(), q.bits).t().contiguous());
  }
  t.emplace_back("weight_shape", at::tensor(std::vector<int64_t>{codes.size(0), codes.size(1)}, at::kLong));
  return t;
}

std::vector<PackedFormat::TensorLayout> layout(const PackedScheme& s, int64_t out, int64_t in) {
  const int64_t groups = groups_of(in, s.group_size);
  std::vector<PackedFormat::TensorLayout> l{{"weight_packed", at::kInt, {out, words(in, s.bits)}},
                                            {"weight_scale", s.scale_dtype, {out, groups}}};
  if (!s.symmetric) l.push_back({"weight_zero_point", at::kInt, {words(out, s.bits), groups}});
  l.push_back({"weight_shape", at::kLong, {2}});
  return l;
}

QuantizedLinear unpack(const PackedTensorGetter& get, const PackedScheme& s, int64_t out, int64_t in,
                       const std::string& where) {
  const at::Tensor shape = get("weight_shape");
  LOWBIT_CHECK(shape[0].item<int64_t>() == out && shape[1].item<int64_t>() == in, where, ": weight_shape is [",
               shape[0].item<int64_t>(), ", ", shape[1].item<int64_t>(), "] but config.json implies [", out, ", ", in, "]");
  const int64_t groups = groups_of(in, s.group_size);
  const at::Tensor codes = unpack_bits(get("weight_packed"), s.bits, in);  // [out, in]
  const at::Tensor zeros = s.symmetric ? at::full({out, groups}, static_cast<double>(1 << (s.bits - 1)), at::kFloat)
                                       : unpack_bits(get("weight_zero_point").t().contiguous(), s.bits, out).t().to(at::kFloat).contiguous();
  const at::Tensor g_idx = s.group_size == 0 ? at::zeros({in}, at::kInt) : at::div(at::arange(in, at::kInt), s.group_size, "floor");
  return uniform_linear(codes, get("weight_scale").to(at::kFloat).contiguous(), zeros, g_idx, s.bits, s.group_size,
                        s.symmetric, where);
}

json config(const PackedScheme& s) {
  const json weights = {{"num_bits", s.bits},
                        {"type", "int"},
                        {"symmetric", s.symmetric},
                        {"strategy", s.group_size > 0 ? "group" : "channel"},
                        {"group_size", s.group_size > 0 ? json(s.group_size) : json(nullptr)},
                        {"block_structure", nullptr},
                        {"dynamic", false},
                        {"actorder", nullptr},
                        {"observer", "minmax"},
                        {"observer_kwargs", json::object()}};
  return {{"quant_method", "compressed-tensors"},
          {"format", "pack-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups",
           {{"group_0",
             {{"targets", {"Linear"}},
              {"weights", weights},
              {"input_activations", nullptr},
              {"output_activations", nullptr},
              {"format", "pack-quantized"}}}}},
          {"ignore", {"lm_head"}},
          {"kv_cache_scheme", nullptr},
          {"global_compression_ratio", nullptr}};
}

PackedScheme parse(const json& c, const std::string& where) {
  PackedScheme s;
  s.format = "compressed-tensors";
  const std::string format = config_field<std::string>(c, "format", "", where);
  LOWBIT_CHECK(format == "pack-quantized", where, ": field 'quantization_config.format' is '", format,
               "'; lowbit reads compressed-tensors' pack-quantized format (integer weights)");
  const std::string status = config_field<std::string>(c, "quantization_status", "compressed", where);
  LOWBIT_CHECK(status == "compressed", where, ": field 'quantization_config.quantization_status' is '", status,
               "'; lowbit reads compressed checkpoints");
  LOWBIT_CHECK(c.contains("config_groups") && c["config_groups"].is_object() && c["config_groups"].size() == 1, where,
               ": field 'quantization_config.config_groups' must hold one group; lowbit's import reads one scheme "
               "for every linear");
  const json& group = c["config_groups"].begin().value();
  const std::string gwhere = where + ": quantization_config.config_groups." + c["config_groups"].begin().key();
  for (const char* key : {"input_activations", "output_activations"})
    LOWBIT_CHECK(!group.contains(key) || group[key].is_null(), gwhere, ": field '", key,
                 "' is set; lowbit's import reads weight-only checkpoints (activations are not quantized on load)");
  LOWBIT_CHECK(group.contains("weights") && group["weights"].is_object(), gwhere, ": no 'weights' section");
  const json& w = group["weights"];
  const std::string wwhere = gwhere + ".weights";
  LOWBIT_CHECK(config_field<std::string>(w, "type", "int", wwhere) == "int", wwhere, ": field 'type' is not int");
  s.bits = config_field<int>(w, "num_bits", 0, wwhere);
  LOWBIT_CHECK(s.bits >= 2 && s.bits <= 8, wwhere, ": field 'num_bits' is ", s.bits, " (2..8)");
  s.symmetric = config_field<bool>(w, "symmetric", true, wwhere);
  const std::string strategy = config_field<std::string>(w, "strategy", "", wwhere);
  LOWBIT_CHECK(strategy == "group" || strategy == "channel", wwhere, ": field 'strategy' is '", strategy,
               "'; lowbit reads per-group and per-channel weights");
  s.group_size = strategy == "group" ? config_field<int64_t>(w, "group_size", 0, wwhere) : 0;
  LOWBIT_CHECK(strategy == "channel" || s.group_size > 0, wwhere, ": field 'group_size' must be positive");
  const json actorder = w.value("actorder", json(nullptr));
  LOWBIT_CHECK(actorder.is_null() || actorder == false || actorder == "weight", wwhere, ": field 'actorder' is ",
               actorder.dump(), "; lowbit's import does not read weight_g_idx");
  return s;
}

}  // namespace

PackedFormat compressed_tensors_packed_format() {
  return {"compressed-tensors",
          "compressed-tensors pack-quantized (vLLM's native format): 4/8-bit uniform codes, scales in the model dtype",
          {at::kHalf, at::kBFloat16}, refuses, pack, layout, unpack, config, parse, no_extra_files};
}

}  // namespace lowbit
