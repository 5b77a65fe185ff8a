// The "dual_binary" artifact format (DB-LLM's Flexible Dual Binarization, docs/methods/db-llm.md):
//   planes u8  [2, out, in]      b1, b2 in {0, 1}
//   alpha  f32 [2, out, groups]  α1, α2 per (row, group of @group_size consecutive input columns)
// w = α1[:, g(i)]·b1 + α2[:, g(i)]·b2. Its check: shapes agree with each other and @group_size,
// planes hold only 0 and 1, scales are finite. Also the FDB operations (methods/common/dual_binary.h).
#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/dual_binary.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit {
namespace {

// x [out, in] as [out, groups, group_size].
at::Tensor grouped(const at::Tensor& x, int64_t group_size) {
  return x.reshape({x.size(0), x.size(1) / group_size, group_size});
}

void check_dual_binary(const QuantizedLinear& q, const std::string& where) {
  const at::Tensor& planes = artifact_tensor(q, "planes", at::kByte, 3, where);  // [2, out, in]
  const at::Tensor& alpha = artifact_tensor(q, "alpha", at::kFloat, 3, where);   // [2, out, groups]
  const int64_t out = planes.size(1), in = planes.size(2);
  LOWBIT_CHECK(planes.size(0) == 2, where, ": planes has ", planes.size(0), " planes, expected 2");
  LOWBIT_CHECK(q.group_size > 0 && in % q.group_size == 0, where, ": @group_size ", q.group_size,
               " does not divide the ", in, " input columns");
  LOWBIT_CHECK(alpha.sizes() == at::IntArrayRef({2, out, in / q.group_size}), where, ": alpha is ", alpha.sizes(),
               ", expected [2, ", out, ", ", in / q.group_size, "]");
  LOWBIT_CHECK(!q.weight.defined() || q.weight.sizes() == at::IntArrayRef({out, in}), where, ": the weight is ",
               q.weight.sizes(), " but the planes are [", out, ", ", in, "]");
  const at::Tensor bad = at::stack({(planes > 1).sum(), alpha.isfinite().logical_not().sum()}).cpu();
  LOWBIT_CHECK(bad[0].item<int64_t>() == 0, where, ": planes hold values other than 0 and 1");
  LOWBIT_CHECK(bad[1].item<int64_t>() == 0, where, ": ", bad[1].item<int64_t>(), " scale(s) in alpha are not finite");
}

}  // namespace

at::Tensor fdb_initial_alpha(const at::Tensor& w, int64_t group_size) {
  UniformQuantSpec spec;
  spec.bits = 2;
  spec.group_size = group_size;
  const GroupedCodes g = quantize_grouped(w, spec);  // scale, zero [out, groups]
  const at::Tensor& s = g.scale;
  const at::Tensor a1 = at::where(g.zero <= 1, 2 * s, -2 * s);
  const at::Tensor a2 = at::where(at::fmod(g.zero, 2) == 0, s, -s);
  return at::stack({a1, a2});  // [2, out, groups]
}

at::Tensor fdb_assign(const at::Tensor& w, const at::Tensor& alpha, int64_t group_size) {
  const at::Tensor x = grouped(w.to(at::kFloat), group_size);  // [out, G, g]
  const at::Tensor a1 = alpha[0].unsqueeze(-1), a2 = alpha[1].unsqueeze(-1);  // [out, G, 1]
  // Distance to each level in the order (b1, b2) = (0,0), (0,1), (1,0), (1,1); argmin keeps the first of ties.
  // The levels are the last dimension: an argmin over a leading dimension of 4 is ~10x slower on the CPU.
  const at::Tensor d = at::stack({x.abs(), (x - a2).abs(), (x - a1).abs(), (x - (a1 + a2)).abs()}, -1);
  const at::Tensor k = d.argmin(-1);  // [out, G, g]
  return at::stack({k.ge(2), k.remainder(2).eq(1)}).to(at::kByte).reshape({2, w.size(0), w.size(1)});
}

at::Tensor fdb_decode(const at::Tensor& planes, const at::Tensor& alpha, int64_t group_size) {
  const int64_t out = planes.size(1), in = planes.size(2);
  const at::Tensor b1 = grouped(planes[0].to(at::kFloat), group_size), b2 = grouped(planes[1].to(at::kFloat), group_size);
  return (alpha[0].unsqueeze(-1) * b1 + alpha[1].unsqueeze(-1) * b2).reshape({out, in});
}

at::Tensor fdb_ste_weight(const at::Tensor& w, const at::Tensor& alpha, int64_t group_size) {
  const at::Tensor planes = fdb_assign(w.detach(), alpha.detach(), group_size);
  return fdb_decode(planes, alpha, group_size) + (w - w.detach());
}

QuantizedLinear dual_binary_linear(at::Tensor planes, at::Tensor alpha, int64_t group_size, const std::string& where) {
  QuantizedLinear q;
  q.format = "dual_binary";
  q.bits = 2;
  q.group_size = group_size;
  q.symmetric = false;
  q.tensors = {{"planes", std::move(planes)}, {"alpha", std::move(alpha)}};
  finish_artifact(q, where);
  return q;
}

ArtifactFormat dual_binary_format() {
  ArtifactFormat f;
  f.name = "dual_binary";
  f.summary = "two binary planes (0/1) with an fp32 scale each per (row, group): DB-LLM's FDB";
  f.check = check_dual_binary;
  f.dequantize = [](const QuantizedLinear& q) {
    return fdb_decode(q.tensors.at("planes"), q.tensors.at("alpha"), q.group_size);
  };
  // Two bits per weight plus an fp16 α1 and α2 per group: 2.25 at g128.
  f.bits_per_weight = [](const QuantizedLinear& q) { return 2.0 + 32.0 / static_cast<double>(q.group_size); };
  f.widths = [](const QuantizedLinear&) { return std::map<int, double>{{2, 1.0}}; };
  return f;
}

}  // namespace lowbit
