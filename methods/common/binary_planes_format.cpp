// The "binary_planes" artifact format: K binary planes, each a mask and a sign per weight and an
// (α, μ) per (row, group), optionally with a salient part of b-bit uniform codes where no plane
// applies (PB-LLM). The weight is
//     Σ_k mask_k ⊙ (α_k · sign_k + μ_k)           where any mask is set,
//     scale · (codes − zero)                      elsewhere (the salient part),
// summed plane by plane in order (BiLLM's residual order 2 is two planes on one mask). A sign is
// −1, 0 or +1: the references' torch.sign(0) = 0 makes an entry equal to μ decode to μ.
//   planes.mask  u8   [K, out, in]   0/1           planes.alpha  f32 [K, out, groups]
//   planes.sign  i8   [K, out, in]   -1/0/+1       planes.mu     f32 [K, out, groups]
//   g_idx        i32  [in]           group of each column (@group_size columns; 0 = the whole row)
//   salient.codes u8 [out, in], salient.scale / salient.zero f32 [out, 1]   (optional; @bits wide)
#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <vector>

#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"

namespace lowbit {
namespace {

bool has_salient(const QuantizedLinear& q) { return q.tensors.count("salient.codes") > 0; }

void check_binary_planes(const QuantizedLinear& q, const std::string& where) {
  const at::Tensor& mask = artifact_tensor(q, "planes.mask", at::kByte, 3, where);    // [K, out, in]
  const at::Tensor& sign = artifact_tensor(q, "planes.sign", at::kChar, 3, where);    // [K, out, in]
  const at::Tensor& alpha = artifact_tensor(q, "planes.alpha", at::kFloat, 3, where); // [K, out, groups]
  const at::Tensor& mu = artifact_tensor(q, "planes.mu", at::kFloat, 3, where);       // [K, out, groups]
  const at::Tensor& g_idx = artifact_tensor(q, "g_idx", at::kInt, 1, where);          // [in]
  const int64_t K = mask.size(0), out = mask.size(1), in = mask.size(2);
  LOWBIT_CHECK(K >= 1 && sign.sizes() == mask.sizes(), where, ": planes.sign ", sign.sizes(), " and planes.mask ",
               mask.sizes(), " differ (or no plane)");
  const int64_t groups = q.group_size == 0 ? 1 : (in + q.group_size - 1) / q.group_size;
  LOWBIT_CHECK(q.group_size >= 0 && alpha.sizes() == at::IntArrayRef({K, out, groups}) && mu.sizes() == alpha.sizes(),
               where, ": planes.alpha ", alpha.sizes(), " and planes.mu ", mu.sizes(), " should be [", K, ", ", out,
               ", ", groups, "]");
  LOWBIT_CHECK(g_idx.size(0) == in, where, ": g_idx has ", g_idx.size(0), " entries for ", in, " columns");
  LOWBIT_CHECK(!q.weight.defined() || q.weight.sizes() == at::IntArrayRef({out, in}), where, ": the weight is ",
               q.weight.sizes(), " but the planes are [", out, ", ", in, "]");
  std::vector<at::Tensor> bad = {
      (mask > 1).sum(),
      (sign < -1).logical_or(sign > 1).logical_or((mask == 0).logical_and(sign != 0)).sum(),
      alpha.isfinite().logical_not().logical_or(alpha < 0).sum() + mu.isfinite().logical_not().sum(),
      (g_idx < 0).logical_or(g_idx >= groups).sum()};
  if (has_salient(q)) {
    LOWBIT_CHECK(q.bits >= 2 && q.bits <= 8, where, ": @bits is ", q.bits, "; salient codes are 2..8 bits, one per byte");
    const at::Tensor& codes = artifact_tensor(q, "salient.codes", at::kByte, 2, where);
    const at::Tensor& scale = artifact_tensor(q, "salient.scale", at::kFloat, 2, where);
    const at::Tensor& zero = artifact_tensor(q, "salient.zero", at::kFloat, 2, where);
    LOWBIT_CHECK(codes.sizes() == at::IntArrayRef({out, in}) && scale.sizes() == at::IntArrayRef({out, 1}) &&
                     zero.sizes() == scale.sizes(),
                 where, ": salient.codes ", codes.sizes(), ", salient.scale ", scale.sizes(), ", salient.zero ",
                 zero.sizes(), " should be [", out, ", ", in, "], [", out, ", 1], [", out, ", 1]");
    const double maxq = static_cast<double>((1 << q.bits) - 1);
    bad.push_back((codes > maxq).sum() + scale.isfinite().logical_not().logical_or(scale <= 0).sum() +
                  zero.isfinite().logical_not().logical_or(zero < 0).logical_or(zero > maxq)
                      .logical_or(zero != zero.round()).sum());
  } else {
    LOWBIT_CHECK(q.bits == 1, where, ": @bits is ", q.bits, " for binary planes without a salient part (expected 1)");
  }
  const at::Tensor n = at::stack(bad).cpu();  // one host read for every value check
  const int64_t* v = n.data_ptr<int64_t>();
  LOWBIT_CHECK(v[0] == 0, where, ": planes.mask holds values other than 0 and 1");
  LOWBIT_CHECK(v[1] == 0, where, ": planes.sign holds values other than -1, 0, +1, or a sign where the mask is 0");
  LOWBIT_CHECK(v[2] == 0, where, ": planes.alpha / planes.mu hold non-finite (or negative alpha) values");
  LOWBIT_CHECK(v[3] == 0, where, ": g_idx points outside the ", groups, " groups");
  LOWBIT_CHECK(bad.size() < 5 || v[4] == 0, where, ": the salient part's codes, scales or zero points are out of range");
}

at::Tensor dequantize_binary_planes(const QuantizedLinear& q) {
  const at::Tensor& mask = q.tensors.at("planes.mask");  // [K, out, in]
  const at::Tensor& sign = q.tensors.at("planes.sign");
  const at::Tensor idx = q.tensors.at("g_idx").to(at::kLong);
  at::Tensor acc = at::zeros({mask.size(1), mask.size(2)}, q.tensors.at("planes.alpha").options());  // [out, in]
  for (int64_t k = 0; k < mask.size(0); ++k) {
    const at::Tensor alpha = q.tensors.at("planes.alpha")[k].index_select(1, idx);  // [out, in]
    const at::Tensor mu = q.tensors.at("planes.mu")[k].index_select(1, idx);
    acc = acc + (sign[k].to(at::kFloat) * alpha + mu) * mask[k].to(at::kFloat);
  }
  if (!has_salient(q)) return acc;
  const at::Tensor scale = q.tensors.at("salient.scale"), zero = q.tensors.at("salient.zero");  // [out, 1]
  const at::Tensor high = scale * (q.tensors.at("salient.codes").to(at::kFloat) - zero);     // [out, in]
  return at::where(mask.amax(0).to(at::kBool), acc, high);
}

// Which planes apply to a weight: each distinct mask costs one bit per weight, or one per column
// when it is the same in every row (BiLLM's salient columns: an index list per block). When the
// distinct masks (and the salient part, where no plane applies) partition the weights, the
// costliest one follows from the others and is free: PB-LLM pays 1 bit per weight for its split,
// BiLLM 1 bit per weight plus 1 per column, one plane over every weight nothing.
double membership_bits(const QuantizedLinear& q) {
  const at::Tensor mask = q.tensors.at("planes.mask").to(at::kBool);  // [K, out, in]
  const int64_t out = mask.size(1), in = mask.size(2);
  std::vector<at::Tensor> classes;
  for (int64_t k = 0; k < mask.size(0); ++k) {
    bool seen = false;
    for (const at::Tensor& c : classes) seen = seen || at::equal(c, mask[k]);
    if (!seen) classes.push_back(mask[k]);
  }
  if (has_salient(q)) classes.push_back(mask.any(0).logical_not());
  std::vector<double> cost;
  at::Tensor count = at::zeros({out, in}, mask.options().dtype(at::kInt));
  for (const at::Tensor& c : classes) {
    const bool by_column = at::equal(c.amax(0), c.amin(0));
    cost.push_back(by_column ? static_cast<double>(in) : static_cast<double>(out * in));
    count += c;
  }
  double bits = 0, costliest = 0;
  for (double c : cost) bits += c, costliest = std::max(costliest, c);
  const bool partition = (count == 1).all().item<bool>();
  return partition ? bits - costliest : bits;
}

// Per weight: a sign bit where each plane applies, the salient codes where none does, the
// membership bits above, and per (row, group) an fp16 α and μ per plane; the salient part's fp16
// scale and b-bit zero per row.
double binary_planes_bits(const QuantizedLinear& q) {
  const at::Tensor& mask = q.tensors.at("planes.mask");
  const int64_t K = mask.size(0), out = mask.size(1), in = mask.size(2);
  const double numel = static_cast<double>(out * in);
  double bits = mask.sum(at::kLong).item<double>();  // sign bits
  const int64_t groups = q.tensors.at("planes.alpha").size(2);
  bits += 2.0 * 16 * K * out * groups;
  if (has_salient(q))
    bits += (numel - mask.amax(0).sum(at::kLong).item<double>()) * q.bits + out * (16.0 + q.bits);
  return (bits + membership_bits(q)) / numel;
}

}  // namespace

ArtifactFormat binary_planes_format() {
  ArtifactFormat f;
  f.name = "binary_planes";
  f.summary = "binary planes: per plane a 0/1 mask, a -1/0/+1 sign per weight, fp32 alpha and mu per (row, group); "
              "optionally b-bit uniform codes where no plane applies";
  f.check = check_binary_planes;
  f.dequantize = dequantize_binary_planes;
  f.bits_per_weight = binary_planes_bits;
  // Per weight: the number of planes that apply (sign bits), or the salient part's width.
  f.widths = [](const QuantizedLinear& q) {
    const at::Tensor& mask = q.tensors.at("planes.mask");
    const at::Tensor planes = mask.sum(0, false, at::kByte);  // [out, in] planes applying, <= K
    const double numel = static_cast<double>(planes.numel());
    std::map<int, double> out;
    for (int64_t k = 0; k <= mask.size(0); ++k) {
      const double share = (planes == k).sum(at::kLong).item<double>() / numel;
      if (share > 0) out[k == 0 ? q.bits : static_cast<int>(k)] += share;
    }
    return out;
  };
  return f;
}

}  // namespace lowbit
