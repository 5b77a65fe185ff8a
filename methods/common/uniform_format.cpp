// The "uniform" artifact format (docs/shard-format.md): integer codes + per-(row, group) scale and
// zero + g_idx. Its check: the tensors' types and shapes agree with each other and with @bits and
// @group_size; every code and zero point lies in [0, 2^bits - 1]; scales are finite and positive;
// g_idx names existing groups -- so a shard whose codes were altered (0xFF in a 3-bit shard) is
// refused rather than decoded into plausible wrong weights.
#include "methods/common/artifact_formats.h"

#include <ATen/ATen.h>

#include <cmath>

#include "framework/core/error.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit {
namespace {

void check_uniform(const QuantizedLinear& q, const std::string& where) {
  LOWBIT_CHECK(q.bits >= 1 && q.bits <= 8, where, ": @bits is ", q.bits, "; uniform codes are stored one per byte, 1..8 bits");
  const double maxq = static_cast<double>((1 << q.bits) - 1);
  const at::Tensor& codes = artifact_tensor(q, "codes", at::kByte, 2, where);   // [out, in]
  const at::Tensor& scale = artifact_tensor(q, "scale", at::kFloat, 2, where);  // [out, groups]
  const at::Tensor& zero = artifact_tensor(q, "zero", at::kFloat, 2, where);    // [out, groups]
  const at::Tensor& g_idx = artifact_tensor(q, "g_idx", at::kInt, 1, where);    // [in]
  const int64_t out = codes.size(0), in = codes.size(1);
  LOWBIT_CHECK(!q.weight.defined() || (q.weight.dim() == 2 && q.weight.size(0) == out && q.weight.size(1) == in), where,
               ": the weight is ", q.weight.sizes(), " but the codes are [", out, ", ", in, "]");
  LOWBIT_CHECK(q.group_size >= 0 && q.group_size <= in, where, ": @group_size ", q.group_size, " is outside [0, ", in,
               "] (0 = per channel)");
  const int64_t groups = q.group_size == 0 ? 1 : (in + q.group_size - 1) / q.group_size;
  LOWBIT_CHECK(scale.size(0) == out && scale.size(1) == groups && zero.sizes() == scale.sizes(), where,
               ": scale ", scale.sizes(), " and zero ", zero.sizes(), " should both be [", out, ", ", groups,
               "] for codes [", out, ", ", in, "] in groups of ", q.group_size == 0 ? in : q.group_size);
  LOWBIT_CHECK(g_idx.size(0) == in, where, ": g_idx has ", g_idx.size(0), " entries for ", in, " input columns");
  LOWBIT_CHECK(std::isfinite(q.loss) || q.loss == -1, where, ": @loss is ", q.loss, " (not finite)");
  // One host read for all the value checks, whatever the device.
  const at::Tensor bad = at::stack({
      (codes.max() > maxq).to(at::kLong),
      scale.isfinite().logical_not().logical_or(scale <= 0).sum(),
      zero.isfinite().logical_not().logical_or(zero < 0).logical_or(zero > maxq).logical_or(zero != zero.round()).sum(),
      (g_idx < 0).logical_or(g_idx >= groups).sum()}).cpu();
  const auto* n = bad.data_ptr<int64_t>();
  LOWBIT_CHECK(n[0] == 0, where, ": codes reach ", codes.max().item<int64_t>(), ", beyond the largest ", q.bits,
               "-bit code ", static_cast<int64_t>(maxq));
  LOWBIT_CHECK(n[1] == 0, where, ": ", n[1], " scale", n[1] > 1 ? "s are" : " is", " not finite and positive");
  LOWBIT_CHECK(n[2] == 0, where, ": ", n[2], " zero point", n[2] > 1 ? "s are" : " is", " not an integer in [0, ",
               static_cast<int64_t>(maxq), "]");
  LOWBIT_CHECK(n[3] == 0, where, ": g_idx points outside the ", groups, " groups");
}

}  // namespace

ArtifactFormat uniform_format() {
  ArtifactFormat f;
  f.name = "uniform";
  f.summary = "b-bit integer codes (one per byte), fp32 scale and zero per (row, group), g_idx";
  f.check = check_uniform;
  f.dequantize = [](const QuantizedLinear& q) {
    return dequantize_uniform(q.tensors.at("codes"), q.tensors.at("scale"), q.tensors.at("zero"), q.tensors.at("g_idx"));
  };
  // Packed b-bit codes plus, per group, an fp16 scale and (asymmetric) a b-bit zero point: what
  // GPTQ/AWQ checkpoints store (4-bit g128 asym: 4 + (16 + 4) / 128 = 4.156).
  f.bits_per_weight = [](const QuantizedLinear& q) {
    const int64_t in = q.tensors.at("codes").size(1);
    const double columns = static_cast<double>(q.group_size > 0 ? q.group_size : in);
    return q.bits + (16.0 + (q.symmetric ? 0.0 : q.bits)) / columns;
  };
  f.widths = [](const QuantizedLinear& q) { return std::map<int, double>{{q.bits, 1.0}}; };
  return f;
}

}  // namespace lowbit
