// The GPTQ checkpoint layout (AutoGPTQ / GPTQModel; what transformers' GPTQ path and vLLM read):
//   qweight int32 [in*bits/32, out]   codes packed along the input dimension (dense bit stream)
//   qzeros  int32 [groups, out*bits/32] zero points packed along the output dimension; v1 stores
//                                     zero - 1 (the original AutoGPTQ convention, what vLLM reads),
//                                     v2 (`checkpoint_format: gptq_v2`) the zero itself
//   scales  fp16  [groups, out]
//   g_idx   int32 [in]                 each input column's group (act-order permutes it)
// w = scales[g_idx] * (q - zero[g_idx]). A zero point 0 has no v1 encoding (it would be -1).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <numeric>

#include "framework/core/error.h"
#include "framework/export/bit_packing.h"
#include "framework/export/packed_formats.h"
#include "methods/common/artifact_formats.h"

namespace lowbit {
namespace {

using nlohmann::json;

// Values a dense stream packs into whole int32 words: 32 / gcd(32, bits) (16 for 2 bits, 32 for 3).
int64_t granule(int bits) { return 32 / std::gcd(32, bits); }

std::string refuses(const QuantizedLinear& q, const PackedScheme& s) {
  if (q.bits != 2 && q.bits != 3 && q.bits != 4 && q.bits != 8)
    return fmt::format("GPTQ packs 2, 3, 4 or 8 bits, not {}", q.bits);
  const at::Tensor& codes = q.tensors.at("codes");
  const int64_t out = codes.size(0), in = codes.size(1), g = granule(q.bits);
  if (in % g != 0 || out % g != 0)
    return fmt::format("its shape [{}, {}] does not pack into whole int32 words ({}-bit: both dimensions a multiple "
                       "of {})",
                       out, in, q.bits, g);
  if (!s.gptq_v2 && q.tensors.at("zero").eq(0).any().item<bool>())
    return "it has a zero point 0, which GPTQ's v1 layout (zero - 1) cannot hold: export with `--gptq-format v2` "
           "(checkpoint_format gptq_v2, read by gptqmodel and transformers)";
  return "";
}

std::vector<std::pair<std::string, at::Tensor>> pack(const QuantizedLinear& q, const PackedScheme& s) {
  const at::Tensor codes = q.tensors.at("codes").to(at::kCPU);                              // [out, in] u8
  at::Tensor zeros = q.tensors.at("zero").to(at::kCPU, at::kInt);                           // [out, groups]
  if (!s.gptq_v2) zeros = zeros - 1;
  return {{"qweight", pack_bits(codes, q.bits).t().contiguous()},                           // [in*b/32, out]
          {"qzeros", pack_bits(zeros.t().contiguous(), q.bits)},                            // [groups, out*b/32]
          {"scales", rounded_scales(q.tensors.at("scale"), s.scale_dtype, "scales").t().contiguous()},  // [groups, out]
          {"g_idx", q.tensors.at("g_idx").to(at::kCPU, at::kInt).contiguous()}};            // [in]
}

std::vector<PackedFormat::TensorLayout> layout(const PackedScheme& s, int64_t out, int64_t in) {
  const int64_t groups = groups_of(in, s.group_size);
  return {{"qweight", at::kInt, {in * s.bits / 32, out}},
          {"qzeros", at::kInt, {groups, out * s.bits / 32}},
          {"scales", s.scale_dtype, {groups, out}},
          {"g_idx", at::kInt, {in}}};
}

QuantizedLinear unpack(const PackedTensorGetter& get, const PackedScheme& s, int64_t out, int64_t in,
                       const std::string& where) {
  const int64_t maxq = (1 << s.bits) - 1;
  at::Tensor codes = unpack_bits(get("qweight").t().contiguous(), s.bits, in);  // [out, in]
  at::Tensor zeros = unpack_bits(get("qzeros"), s.bits, out).to(at::kInt);      // [groups, out]
  // v1: each field is zero - 1; decoded field by field, modulo 2^bits (as gptqmodel converts it).
  if (!s.gptq_v2) zeros = (zeros + 1).bitwise_and(maxq);
  return uniform_linear(codes, get("scales").to(at::kFloat).t().contiguous(), zeros.t().to(at::kFloat).contiguous(),
                        get("g_idx").to(at::kInt).contiguous(), s.bits, s.group_size, s.symmetric, where);
}

json config(const PackedScheme& s) {
  json c = {{"quant_method", "gptq"},
            {"bits", s.bits},
            {"group_size", s.group_size == 0 ? -1 : s.group_size},
            {"desc_act", s.desc_act},
            {"sym", s.symmetric},
            {"static_groups", false},
            {"damp_percent", 0.01},
            {"true_sequential", true},
            {"checkpoint_format", s.gptq_v2 ? "gptq_v2" : "gptq"},
            {"format", s.gptq_v2 ? "gptq_v2" : "gptq"},
            {"pack_dtype", "int32"},
            {"lm_head", false}};
  for (const auto& [key, value] : s.provenance.items()) c[key] = value;
  return c;
}

PackedScheme parse(const json& c, const std::string& where) {
  PackedScheme s;
  s.format = "gptq";
  s.bits = config_field<int>(c, "bits", 0, where);
  LOWBIT_CHECK(s.bits == 2 || s.bits == 3 || s.bits == 4 || s.bits == 8, where, ": field 'quantization_config.bits' is ",
               s.bits, "; lowbit reads GPTQ checkpoints of 2, 3, 4 or 8 bits");
  const int64_t group_size = config_field<int64_t>(c, "group_size", -1, where);
  LOWBIT_CHECK(group_size == -1 || group_size > 0, where, ": field 'quantization_config.group_size' is ", group_size,
               " (-1 = per channel, or a positive group size)");
  s.group_size = group_size == -1 ? 0 : group_size;
  s.desc_act = config_field<bool>(c, "desc_act", false, where);
  s.symmetric = config_field<bool>(c, "sym", true, where);
  const std::string format = config_field<std::string>(c, "checkpoint_format", config_field<std::string>(c, "format", "gptq", where), where);
  LOWBIT_CHECK(format == "gptq" || format == "gptq_v2", where, ": field 'quantization_config.checkpoint_format' is '",
               format, "'; lowbit reads the gptq (v1) and gptq_v2 layouts, not kernel-specific ones (marlin, bitblas, ...)");
  s.gptq_v2 = format == "gptq_v2";
  LOWBIT_CHECK(config_field<std::string>(c, "pack_dtype", "int32", where) == "int32", where,
               ": field 'quantization_config.pack_dtype' is not int32; lowbit reads int32-packed GPTQ checkpoints");
  LOWBIT_CHECK(!c.contains("dynamic") || c["dynamic"].is_null() || c["dynamic"].empty(), where,
               ": field 'quantization_config.dynamic' (per-module bits or group sizes) is not supported by lowbit's "
               "import: every linear must share one setting");
  LOWBIT_CHECK(!config_field<bool>(c, "lm_head", false, where), where,
               ": field 'quantization_config.lm_head' is true; lowbit's import reads a full-precision head only");
  return s;
}

// AutoGPTQ-era loaders read the settings from quantize_config.json rather than config.json.
std::vector<std::pair<std::string, std::string>> extra_files(const PackedScheme& s) {
  return {{"quantize_config.json", config(s).dump(2) + "\n"}};
}

}  // namespace

PackedFormat gptq_packed_format() {
  return {"gptq",
          "GPTQ checkpoint: packed int32 qweight/qzeros, fp16 scales, g_idx (v1 zeros - 1, or gptq_v2); 2/3/4/8-bit "
          "uniform codes",
          {at::kHalf}, refuses, pack, layout, unpack, config, parse, extra_files};
}

}  // namespace lowbit
