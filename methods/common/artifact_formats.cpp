#include "methods/common/artifact_formats.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit {

const ArtifactFormats& ArtifactFormats::builtin() {
  static const ArtifactFormats* f = [] {
    auto* r = new ArtifactFormats();
    r->add(uniform_format());
    r->add(binary_planes_format());
    r->add(mixed_uniform_format());
    r->add(incoherent_format());
    r->add(nf4_format());
    r->add(dual_binary_format());
    return r;
  }();
  return *f;
}

void ArtifactFormats::add(ArtifactFormat f) {
  LOWBIT_ASSERT(!f.name.empty() && f.check && f.dequantize && f.bits_per_weight && f.widths,
                "an artifact format needs all parts");
  LOWBIT_ASSERT(!formats_.count(f.name), "artifact format '", f.name, "' registered twice");
  const std::string name = f.name;
  formats_.emplace(name, std::move(f));
}

const ArtifactFormat& ArtifactFormats::get(const std::string& name, const std::string& where) const {
  auto it = formats_.find(name);
  if (it == formats_.end()) {
    std::string known;
    for (const auto& [n, f] : formats_) known += (known.empty() ? "" : ", ") + n;
    LOWBIT_FAIL(where, ": @format is '", name, "', which this lowbit cannot dequantize (known formats: ", known, ")");
  }
  return it->second;
}

std::vector<std::string> ArtifactFormats::names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : formats_) out.push_back(n);
  return out;
}

const at::Tensor& artifact_tensor(const QuantizedLinear& q, const char* name, at::ScalarType type, int64_t dim,
                                  const std::string& where) {
  auto it = q.tensors.find(name);
  LOWBIT_CHECK(it != q.tensors.end(), where, " lacks dataset '", name, "'");
  const at::Tensor& t = it->second;
  LOWBIT_CHECK(t.scalar_type() == type && t.dim() == dim, where, ": dataset '", name, "' is ", t.scalar_type(), " ",
               t.sizes(), ", expected ", type, " with ", dim, " dimension", dim > 1 ? "s" : "");
  return t;
}

void check_artifact(const QuantizedLinear& q, const std::string& where) {
  ArtifactFormats::builtin().get(q.format, where).check(q, where);
  if (q.weight.defined())
    LOWBIT_CHECK(q.weight.isfinite().all().item<bool>(), where, ": the quantized weight is not finite");
}

void finish_artifact(QuantizedLinear& q, const std::string& where) {
  const ArtifactFormat& f = ArtifactFormats::builtin().get(q.format, where);
  f.check(q, where);
  q.weight = f.dequantize(q);
  q.bits_per_weight = f.bits_per_weight(q);
}

QuantizedLinear uniform_linear(at::Tensor codes, at::Tensor scale, at::Tensor zero, at::Tensor g_idx, int bits,
                               int64_t group_size, bool symmetric, const std::string& where) {
  QuantizedLinear q;
  q.format = "uniform";
  q.bits = bits;
  q.group_size = group_size;
  q.symmetric = symmetric;
  q.tensors = {{"codes", std::move(codes)}, {"scale", std::move(scale)}, {"zero", std::move(zero)},
               {"g_idx", std::move(g_idx)}};
  finish_artifact(q, where);
  return q;
}

QuantizedLinear round_to_nearest_linear(const at::Tensor& w, const UniformQuantSpec& spec, const std::string& where) {
  const GroupedCodes g = quantize_grouped(w, spec);
  // [in]: integer division (a true one would go through float, by a reciprocal on CUDA)
  at::Tensor g_idx = at::div(at::arange(w.size(1), w.options().dtype(at::kInt)), g.group_size, "floor");
  const bool symmetric = spec.rule == GridRule::AbsMax || (spec.rule == GridRule::MinMax && spec.symmetric);
  return uniform_linear(g.codes, g.scale, g.zero, std::move(g_idx), spec.bits, spec.group_size, symmetric, where);
}

std::string artifact_description(const QuantizedLinear& q) {
  const ArtifactFormat& f = ArtifactFormats::builtin().get(q.format, "artifact");
  return f.describe ? f.describe(q) : "";
}

std::map<int, double> artifact_widths(const QuantizedLinear& q) {
  return ArtifactFormats::builtin().get(q.format, "artifact").widths(q);
}

}  // namespace lowbit
