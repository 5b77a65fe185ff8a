// The "incoherent" artifact format: incoherent_format.h says what it stores and how it decodes.
#include "methods/common/incoherent_format.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"

namespace lowbit {
namespace {

std::string key(char which, const char* name) { return std::string(1, which) + "." + name; }

// One butterfly's tensors: permutations of 0 .. n−1, blocks of QuIP's factors of n, orthogonal.
void check_butterfly(const QuantizedLinear& q, char which, int64_t n, const std::string& where) {
  const std::array<int64_t, 2> f = butterfly_factors(n);
  std::vector<at::Tensor> bad;
  for (const char* name : {"perm_in", "perm_out"}) {
    const at::Tensor& p = artifact_tensor(q, key(which, name).c_str(), at::kLong, 1, where);
    LOWBIT_CHECK(p.size(0) == n, where, ": ", key(which, name), " has ", p.size(0), " entries for dimension ", n);
    bad.push_back((std::get<0>(p.sort()) != at::arange(n, p.options())).sum());
  }
  for (int i = 0; i < 2; ++i) {
    const std::string name = key(which, i == 0 ? "blocks1" : "blocks2");
    const at::Tensor& b = artifact_tensor(q, name.c_str(), at::kDouble, 3, where);
    LOWBIT_CHECK(b.sizes() == at::IntArrayRef({n / f[i], f[i], f[i]}), where, ": ", name, " is ", b.sizes(),
                 " but dimension ", n, " = ", f[0], " x ", f[1], " needs [", n / f[i], ", ", f[i], ", ", f[i], "]");
    const at::Tensor eye = at::eye(f[i], b.options());
    const at::Tensor err = (at::bmm(b, b.transpose(1, 2)) - eye).abs();
    bad.push_back(b.isfinite().logical_not().sum() + (err > 1e-8).sum());
  }
  const at::Tensor counts = at::stack(bad).cpu();
  const int64_t* c = counts.data_ptr<int64_t>();
  LOWBIT_CHECK(c[0] == 0 && c[1] == 0, where, ": ", key(which, "perm_in"), " / ", key(which, "perm_out"),
               " are not permutations of 0 .. ", n - 1);
  LOWBIT_CHECK(c[2] == 0 && c[3] == 0, where, ": ", key(which, "blocks1"), " / ", key(which, "blocks2"),
               " are not orthogonal to 1e-8 (or hold non-finite values)");
}

void check_incoherent(const QuantizedLinear& q, const std::string& where) {
  const at::Tensor& codes = artifact_tensor(q, "codes", at::kByte, 2, where);   // [out, in]
  const at::Tensor& sigma = artifact_tensor(q, "sigma", at::kFloat, 1, where);  // [1]
  const at::Tensor& s = artifact_tensor(q, "rescale", at::kFloat, 1, where);    // [in]
  const int64_t out = codes.size(0), in = codes.size(1);
  LOWBIT_CHECK(q.bits >= 1 && q.bits <= 8, where, ": @bits is ", q.bits, "; incoherent codes are 1..8 bits, one per byte");
  LOWBIT_CHECK(q.group_size == 0, where, ": @group_size is ", q.group_size, "; QuIP's scale is one per matrix (0)");
  LOWBIT_CHECK(sigma.size(0) == 1 && s.size(0) == in, where, ": sigma has ", sigma.size(0), " entries (1) and rescale ",
               s.size(0), " (", in, ")");
  const at::Tensor counts = at::stack({(codes > (1 << q.bits) - 1).sum(),
                                       sigma.isfinite().logical_not().logical_or(sigma <= 0).sum() +
                                           s.isfinite().logical_not().logical_or(s <= 0).sum()})
                                .cpu();
  LOWBIT_CHECK(counts[0].item<int64_t>() == 0, where, ": codes exceed ", (1 << q.bits) - 1, " (@bits ", q.bits, ")");
  LOWBIT_CHECK(counts[1].item<int64_t>() == 0, where, ": sigma and rescale must be finite and positive");
  check_butterfly(q, 'u', out, where);
  check_butterfly(q, 'v', in, where);
}

// Row by row in chunks where the steps are elementwise, so that beside the float64 product (8 bytes
// per weight) only the fp16 input and the fp32 result are whole: about 14 bytes per weight at peak.
at::Tensor dequantize_incoherent(const QuantizedLinear& q) {
  const double maxq = static_cast<double>((1 << q.bits) - 1);
  const at::Tensor& codes = q.tensors.at("codes");  // [out, in]
  const int64_t out = codes.size(0), in = codes.size(1);
  const int64_t rows = std::max<int64_t>(1, (int64_t{1} << 22) / std::max<int64_t>(in, 1));
  // The reference's arithmetic and roundings, step by step: fp32, then the fp16 weight it stores.
  at::Tensor w = at::empty({out, in}, codes.options().dtype(at::kHalf));  // incoherent basis
  for (int64_t r = 0; r < out; r += rows) {
    const int64_t k = std::min(rows, out - r);
    w.narrow(0, r, k).copy_((((codes.narrow(0, r, k).to(at::kFloat) / maxq) * 2 - 1) * q.tensors.at("sigma")).to(at::kHalf));
  }
  const at::Tensor back = butterfly_sandwich(incoherent_transform(q, 'u'), w, incoherent_transform(q, 'v'),
                                             /*inverse=*/true);  // Uᵀ · w · V, float64
  w = at::Tensor();
  const at::Tensor s = q.tensors.at("rescale").unsqueeze(0);  // [1, in]
  at::Tensor result = at::empty({out, in}, codes.options().dtype(at::kFloat));
  for (int64_t r = 0; r < out; r += rows) {
    const int64_t k = std::min(rows, out - r);
    const at::Tensor w16 = back.narrow(0, r, k).to(at::kFloat).to(at::kHalf);
    result.narrow(0, r, k).copy_((w16.to(at::kFloat) / s).to(at::kHalf));
  }
  return result;
}

// Codes at @bits per weight; σ and each rescale entry as fp16; the transforms as the 64-bit seed
// they are drawn from (lowbit regenerates them from (seed, block, module); the stored factors are
// that draw, kept so a shard decodes without the generator).
double incoherent_bits(const QuantizedLinear& q) {
  const at::Tensor& codes = q.tensors.at("codes");
  const double numel = static_cast<double>(codes.numel());
  return (numel * q.bits + 16.0 + 16.0 * static_cast<double>(codes.size(1)) + 64.0) / numel;
}

}  // namespace

Butterfly incoherent_transform(const QuantizedLinear& q, char which) {
  Butterfly b;
  b.perm_in = q.tensors.at(key(which, "perm_in"));
  b.perm_out = q.tensors.at(key(which, "perm_out"));
  b.blocks = {q.tensors.at(key(which, "blocks1")), q.tensors.at(key(which, "blocks2"))};
  b.n = b.perm_in.size(0);
  b.factors = {b.blocks[0].size(1), b.blocks[1].size(1)};
  return b;
}

QuantizedLinear incoherent_linear(at::Tensor codes, at::Tensor sigma, at::Tensor rescale, const Butterfly& u,
                                  const Butterfly& v, int bits, const std::string& where) {
  QuantizedLinear q;
  q.format = "incoherent";
  q.bits = bits;
  q.group_size = 0;
  q.symmetric = true;  // σ · (2 · code / maxq − 1): a grid symmetric about 0
  const at::Device dev = codes.device();
  q.tensors["codes"] = std::move(codes);
  q.tensors["sigma"] = std::move(sigma);
  q.tensors["rescale"] = std::move(rescale);
  for (const auto& [which, b] : {std::pair<char, const Butterfly*>{'u', &u}, {'v', &v}}) {
    q.tensors[key(which, "perm_in")] = b->perm_in.to(dev);
    q.tensors[key(which, "perm_out")] = b->perm_out.to(dev);
    q.tensors[key(which, "blocks1")] = b->blocks[0].to(dev);
    q.tensors[key(which, "blocks2")] = b->blocks[1].to(dev);
  }
  finish_artifact(q, where);
  return q;
}

ArtifactFormat incoherent_format() {
  ArtifactFormat f;
  f.name = "incoherent";
  f.summary = "QuIP: b-bit codes in the incoherent basis, one sigma per matrix, the input rescale vector, and the "
              "butterfly orthogonals U and V as factors; decoded as fp16(fp16(U^T Q V) / s)";
  f.check = check_incoherent;
  f.dequantize = dequantize_incoherent;
  f.bits_per_weight = incoherent_bits;
  f.widths = [](const QuantizedLinear& q) { return std::map<int, double>{{q.bits, 1.0}}; };
  // The butterflies' factor splits: "U 64x224 V 64x64" (the blocks' sizes per Kronecker axis).
  f.describe = [](const QuantizedLinear& q) {
    const Butterfly u = incoherent_transform(q, 'u'), v = incoherent_transform(q, 'v');
    return fmt::format("sigma {:.4g}, U {}x{}, V {}x{} (butterflies)", q.tensors.at("sigma").item<double>(),
                       u.factors[0], u.factors[1], v.factors[0], v.factors[1]);
  };
  return f;
}

}  // namespace lowbit
