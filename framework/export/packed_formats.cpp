#include "framework/export/packed_formats.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "framework/core/error.h"

namespace lowbit {

const std::vector<PackedFormat>& packed_formats() {
  static const std::vector<PackedFormat> kFormats{gptq_packed_format(), awq_packed_format(),
                                                  compressed_tensors_packed_format()};
  return kFormats;
}

const PackedFormat* find_packed_format(const std::string& name) {
  for (const PackedFormat& f : packed_formats())
    if (f.name == name) return &f;
  return nullptr;
}

int64_t groups_of(int64_t in, int64_t group_size) { return group_size == 0 ? 1 : (in + group_size - 1) / group_size; }

bool consecutive_groups(const at::Tensor& g_idx, int64_t group_size) {
  const int64_t in = g_idx.size(0);
  const at::Tensor plain = group_size == 0 ? at::zeros({in}, g_idx.options())
                                           : at::div(at::arange(in, g_idx.options()), group_size, "floor");
  return at::equal(g_idx, plain);
}

PackedScheme scheme_of(const QuantizedLinear& q, const std::string& format) {
  PackedScheme s;
  s.format = format;
  s.bits = q.bits;
  s.group_size = q.group_size;
  if (q.format != "uniform") return s;
  // Symmetric as the checkpoint formats mean it: one zero point, 2^(bits-1), for every group.
  s.symmetric = q.symmetric && q.tensors.at("zero").eq(static_cast<double>(1 << (q.bits - 1))).all().item<bool>();
  s.desc_act = !consecutive_groups(q.tensors.at("g_idx"), q.group_size);
  return s;
}

std::string packed_refusal(const PackedFormat& f, const QuantizedLinear& q, const PackedScheme& s) {
  if (q.format != "uniform")
    return fmt::format(
        "its artifacts are '{}', not uniform integer codes; {} holds uniform codes only (RTN, GPTQ, AWQ, SmoothQuant "
        "runs): `--format hf` exports any run as dequantized weights",
        q.format, f.name);
  if (q.bits != s.bits || q.group_size != s.group_size)
    return fmt::format("it has {}-bit codes in groups of {}, the checkpoint's first linear {}-bit in groups of {}: a {} "
                       "checkpoint holds one setting",
                       q.bits, q.group_size, s.bits, s.group_size, f.name);
  if (scheme_of(q, f.name).symmetric != s.symmetric)
    return fmt::format("its zero points are {}symmetric and the checkpoint's first linear's are {}: a {} checkpoint "
                       "holds one setting",
                       s.symmetric ? "not " : "", s.symmetric ? "" : "not ", f.name);
  return f.refuses(q, s);
}

std::vector<std::pair<std::string, std::string>> no_extra_files(const PackedScheme&) { return {}; }

void bad_config_field(const nlohmann::json& c, const char* key, const std::string& where) {
  LOWBIT_FAIL(where, ": field 'quantization_config.", key, "' is ", c[key].dump(), ", not of the expected type");
}

at::Tensor rounded_scales(const at::Tensor& scale, c10::ScalarType dtype, const std::string& where) {
  const at::Tensor r = scale.to(at::kCPU, dtype);
  const at::Tensor bad = r.isfinite().logical_not().logical_or(r <= 0);
  LOWBIT_CHECK(!bad.any().item<bool>(), where, ": ", bad.sum().item<int64_t>(), " scale(s) (e.g. ",
               scale.to(at::kCPU).masked_select(bad).select(0, 0).item<double>(), ") overflow or vanish in ",
               c10::toString(dtype), ", the checkpoint's scale dtype");
  return r;
}

}  // namespace lowbit
