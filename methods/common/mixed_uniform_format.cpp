// The "mixed_uniform" artifact format (SliM-LLM): one bit width per column group, the same for every
// row, codes/scale/zero per (row, group) as in "uniform", except that a 1-bit group is a binarizer:
//   group_bits  u8  [groups]        1..8
//   codes       u8  [out, in]       b-bit codes; in a 1-bit group sign(w − μ) + 1 ∈ {0, 1, 2}
//   scale, zero f32 [out, groups]   b >= 2: scale and integer zero point; b = 1: α (scale) and μ (zero)
//   g_idx       i32 [in]            the group of each column
// Weight = scale · (code − zero) in groups of 2+ bits, (code − 1) · α + μ in 1-bit groups: the
// reference's sign(w − μ)·α + μ, whose sign(0) = 0 (w exactly μ) is the middle code 1.
#include <ATen/ATen.h>

#include <map>

#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"

namespace lowbit {
namespace {

void check_mixed_uniform(const QuantizedLinear& q, const std::string& where) {
  const at::Tensor& widths = artifact_tensor(q, "group_bits", at::kByte, 1, where);  // [groups]
  const at::Tensor& codes = artifact_tensor(q, "codes", at::kByte, 2, where);        // [out, in]
  const at::Tensor& scale = artifact_tensor(q, "scale", at::kFloat, 2, where);       // [out, groups]
  const at::Tensor& zero = artifact_tensor(q, "zero", at::kFloat, 2, where);         // [out, groups]
  const at::Tensor& g_idx = artifact_tensor(q, "g_idx", at::kInt, 1, where);         // [in]
  const int64_t out = codes.size(0), in = codes.size(1), groups = widths.size(0);
  LOWBIT_CHECK(q.group_size > 0 && groups == (in + q.group_size - 1) / q.group_size, where, ": group_bits has ",
               groups, " entries for ", in, " columns in groups of @group_size ", q.group_size);
  LOWBIT_CHECK(scale.sizes() == at::IntArrayRef({out, groups}) && zero.sizes() == scale.sizes(), where, ": scale ",
               scale.sizes(), " and zero ", zero.sizes(), " should both be [", out, ", ", groups, "]");
  LOWBIT_CHECK(g_idx.size(0) == in, where, ": g_idx has ", g_idx.size(0), " entries for ", in, " columns");
  LOWBIT_CHECK(!q.weight.defined() || q.weight.sizes() == codes.sizes(), where, ": the weight is ", q.weight.sizes(),
               " but the codes are ", codes.sizes());
  LOWBIT_CHECK(q.bits >= 1 && q.bits <= 8, where, ": @bits is ", q.bits, " (the target width, 1..8)");
  const at::Tensor bad_widths = (widths < 1).logical_or(widths > 8).sum().cpu();
  LOWBIT_CHECK(bad_widths.item<int64_t>() == 0, where, ": group_bits holds widths outside 1..8");
  const at::Tensor w = widths.to(at::kLong);
  const at::Tensor maxq = at::where(w == 1, at::full_like(w, 2), at::pow(2, w) - 1).to(at::kFloat);  // [groups]
  const at::Tensor one_bit = (w == 1).unsqueeze(0);                                                  // [1, groups]
  const at::Tensor col_group = g_idx.to(at::kLong).clamp(0, groups - 1);
  const at::Tensor bad = at::stack({
      (codes.to(at::kFloat) > maxq.index_select(0, col_group).unsqueeze(0)).sum(),
      scale.isfinite().logical_not().logical_or(scale < 0).logical_or(scale.eq(0).logical_and(one_bit.logical_not())).sum(),
      zero.isfinite().logical_not().sum() +
          one_bit.logical_not().logical_and(zero.lt(0).logical_or(zero.gt(maxq.unsqueeze(0))).logical_or(zero != zero.round())).sum(),
      (g_idx < 0).logical_or(g_idx >= groups).sum()}).cpu();
  const auto* n = bad.data_ptr<int64_t>();
  LOWBIT_CHECK(n[0] == 0, where, ": ", n[0], " codes exceed their group's largest code");
  LOWBIT_CHECK(n[1] == 0, where, ": ", n[1], " scales are not finite and positive (alpha >= 0 in 1-bit groups)");
  LOWBIT_CHECK(n[2] == 0, where, ": ", n[2], " zero points are not finite, or not integers in range in groups of 2+ bits");
  LOWBIT_CHECK(n[3] == 0, where, ": g_idx points outside the ", groups, " groups");
}

at::Tensor dequantize_mixed_uniform(const QuantizedLinear& q) {
  const at::Tensor idx = q.tensors.at("g_idx").to(at::kLong);
  const at::Tensor s = q.tensors.at("scale").index_select(1, idx), z = q.tensors.at("zero").index_select(1, idx);  // [out, in]
  const at::Tensor codes = q.tensors.at("codes").to(at::kFloat);
  const at::Tensor one_bit = (q.tensors.at("group_bits").index_select(0, idx) == 1).unsqueeze(0);  // [1, in]
  return at::where(one_bit, (codes - 1) * s + z, s * (codes - z));
}

// Per weight its group's width; per (row, group) an fp16 scale and a b-bit zero (1-bit: fp16 α and μ);
// per group its width in a byte.
double mixed_uniform_bits(const QuantizedLinear& q) {
  const at::Tensor w = q.tensors.at("group_bits").to(at::kDouble).cpu();
  const int64_t out = q.tensors.at("codes").size(0), in = q.tensors.at("codes").size(1);
  const at::Tensor columns = at::bincount(q.tensors.at("g_idx").to(at::kLong).cpu(), {}, w.size(0)).to(at::kDouble);
  const at::Tensor per_row = (w * columns).sum() + (16.0 + at::where(w == 1, at::full_like(w, 16.0), w)).sum();
  return (per_row.item<double>() * out + 8.0 * w.size(0)) / static_cast<double>(out * in);
}

}  // namespace

ArtifactFormat mixed_uniform_format() {
  ArtifactFormat f;
  f.name = "mixed_uniform";
  f.summary = "a bit width per column group (1..8); codes, fp32 scale and zero per (row, group); 1-bit groups "
              "are a binarizer (codes sign+1, scale alpha, zero mu)";
  f.check = check_mixed_uniform;
  f.dequantize = dequantize_mixed_uniform;
  f.bits_per_weight = mixed_uniform_bits;
  f.widths = [](const QuantizedLinear& q) {
    const at::Tensor w = q.tensors.at("group_bits").to(at::kLong).cpu();
    const at::Tensor columns = at::bincount(q.tensors.at("g_idx").to(at::kLong).cpu(), {}, w.size(0)).to(at::kDouble);
    const double in = static_cast<double>(q.tensors.at("g_idx").size(0));
    std::map<int, double> out;
    for (int64_t g = 0; g < w.size(0); ++g) out[static_cast<int>(w[g].item<int64_t>())] += columns[g].item<double>() / in;
    return out;
  };
  return f;
}

}  // namespace lowbit
