// The AutoAWQ GEMM layout (what transformers' AWQ path, vLLM and AutoAWQ read), 4-bit only:
//   qweight int32 [in, out/8]      codes packed along the OUTPUT dimension, 8 per word, interleaved:
//                                  nibble k of word c holds column 8c + [0, 2, 4, 6, 1, 3, 5, 7][k]
//   qzeros  int32 [groups, out/8]  zero points, packed the same way, stored as they are
//   scales  fp16  [groups, out]
// Groups are consecutive input columns (no g_idx): w = scales * (q - zero) per (group, column).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "framework/core/error.h"
#include "framework/export/bit_packing.h"
#include "framework/export/packed_formats.h"
#include "methods/common/artifact_formats.h"

namespace lowbit {
namespace {

using nlohmann::json;

// x [rows, out] -> the columns of each block of 8 in AWQ's nibble order (or back, with kUnpackOrder).
constexpr int64_t kPackOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
constexpr int64_t kUnpackOrder[8] = {0, 4, 1, 5, 2, 6, 3, 7};  // kUnpackOrder[kPackOrder[k]] = k

at::Tensor reorder(const at::Tensor& x, const int64_t (&order)[8]) {
  const at::Tensor index = at::tensor(std::vector<int64_t>(order, order + 8), x.options().dtype(at::kLong));
  return x.reshape({x.size(0), x.size(1) / 8, 8}).index_select(2, index).reshape({x.size(0), x.size(1)});
}

std::string refuses(const QuantizedLinear& q, const PackedScheme&) {
  if (q.bits != 4) return fmt::format("AWQ's GEMM layout holds 4-bit codes, not {}-bit (`--format gptq` packs 2/3/8)", q.bits);
  const at::Tensor& codes = q.tensors.at("codes");
  const int64_t out = codes.size(0), in = codes.size(1);
  if (q.group_size == 0 || in % q.group_size != 0)
    return fmt::format("AWQ's layout needs groups that divide the {} input columns (this run's group size: {}; "
                       "per-channel codes go to `--format gptq` or `compressed-tensors`)",
                       in, q.group_size == 0 ? std::string("per channel") : std::to_string(q.group_size));
  if (out % 8 != 0) return fmt::format("its {} output rows do not pack 8 to a word", out);
  if (!consecutive_groups(q.tensors.at("g_idx"), q.group_size))
    return "its columns are permuted among groups (GPTQ act-order), which AWQ's layout (no g_idx) cannot hold: "
           "`--format gptq` stores g_idx";
  return "";
}

std::vector<std::pair<std::string, at::Tensor>> pack(const QuantizedLinear& q, const PackedScheme& s) {
  const at::Tensor codes = q.tensors.at("codes").to(at::kCPU);                  // [out, in] u8
  const at::Tensor zeros = q.tensors.at("zero").to(at::kCPU, at::kInt);         // [out, groups]
  return {{"qweight", pack_bits(reorder(codes.t().contiguous(), kPackOrder), 4)},  // [in, out/8]
          {"qzeros", pack_bits(reorder(zeros.t().contiguous(), kPackOrder), 4)},   // [groups, out/8]
          {"scales", rounded_scales(q.tensors.at("scale"), s.scale_dtype, "scales").t().contiguous()}};  // [groups, out]
}

std::vector<PackedFormat::TensorLayout> layout(const PackedScheme& s, int64_t out, int64_t in) {
  const int64_t groups = groups_of(in, s.group_size);
  return {{"qweight", at::kInt, {in, out / 8}}, {"qzeros", at::kInt, {groups, out / 8}}, {"scales", s.scale_dtype, {groups, out}}};
}

QuantizedLinear unpack(const PackedTensorGetter& get, const PackedScheme& s, int64_t out, int64_t in,
                       const std::string& where) {
  const at::Tensor codes = reorder(unpack_bits(get("qweight"), 4, out), kUnpackOrder).t().contiguous();  // [out, in]
  const at::Tensor zeros = reorder(unpack_bits(get("qzeros"), 4, out), kUnpackOrder).t().to(at::kFloat).contiguous();
  const at::Tensor g_idx = at::div(at::arange(in, at::kInt), s.group_size, "floor");
  const bool symmetric = zeros.eq(8).all().item<bool>();
  return uniform_linear(codes, get("scales").to(at::kFloat).t().contiguous(), zeros, g_idx, 4, s.group_size, symmetric,
                        where);
}

json config(const PackedScheme& s) {
  return {{"quant_method", "awq"}, {"version", "gemm"},         {"zero_point", true},
          {"bits", 4},             {"group_size", s.group_size}, {"modules_to_not_convert", nullptr}};
}

PackedScheme parse(const json& c, const std::string& where) {
  PackedScheme s;
  s.format = "awq";
  s.bits = config_field<int>(c, "bits", config_field<int>(c, "w_bit", 4, where), where);
  LOWBIT_CHECK(s.bits == 4, where, ": field 'quantization_config.bits' is ", s.bits, "; AWQ checkpoints are 4-bit");
  std::string version = config_field<std::string>(c, "version", "gemm", where);
  for (char& ch : version) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  LOWBIT_CHECK(version == "gemm", where, ": field 'quantization_config.version' is '", version,
               "'; lowbit reads AWQ's GEMM layout (not gemv, marlin or exllama repacks)");
  LOWBIT_CHECK(config_field<bool>(c, "zero_point", true, where), where,
               ": field 'quantization_config.zero_point' is false; lowbit reads AWQ checkpoints with zero points");
  s.group_size = config_field<int64_t>(c, "group_size", config_field<int64_t>(c, "q_group_size", 0, where), where);
  LOWBIT_CHECK(s.group_size > 0, where, ": field 'quantization_config.group_size' is ", s.group_size,
               "; AWQ checkpoints have a positive group size");
  return s;
}

}  // namespace

PackedFormat awq_packed_format() {
  return {"awq", "AutoAWQ GEMM checkpoint: 4-bit codes packed along the output in AWQ's nibble order, raw zeros, fp16 scales",
          {at::kHalf}, refuses, pack, layout, unpack, config, parse, no_extra_files};
}

}  // namespace lowbit
