// Packed checkpoint formats that serving stacks load (GPTQ, AutoAWQ GEMM, compressed-tensors
// pack-quantized), as one registry: each format packs a "uniform" artifact (integer codes, scale and
// zero per (row, group), g_idx) into its tensors, unpacks them back into a uniform artifact, and
// writes / reads its `quantization_config`. Export (framework/export/packed_export) and import
// (framework/export/packed_checkpoint, through load_llama) both go through it, so an export read
// back is the same artifact by construction. docs/exports.md has the layouts and conventions.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "methods/method.h"

namespace lowbit {

// What one checkpoint holds: every packed linear has these settings.
struct PackedScheme {
  std::string format;        // registry name: "gptq" | "awq" | "compressed-tensors"
  int bits = 4;
  int64_t group_size = 128;  // 0 = per output channel
  bool symmetric = false;    // every zero point is 2^(bits-1) (compressed-tensors then stores none)
  bool desc_act = false;     // some linear's g_idx is not column / group_size (GPTQ act-order)
  bool gptq_v2 = false;      // gptq: zero points stored as they are; v1 (default) stores zero - 1
  c10::ScalarType scale_dtype = c10::ScalarType::Half;  // the checkpoint's float dtype (scales, other tensors)
  nlohmann::json provenance = nlohmann::json::object();  // gptq: damp_percent, true_sequential, meta
};

// A packed linear's tensor by suffix ("qweight"), read and checked (present, dtype, shape) by the caller.
using PackedTensorGetter = std::function<at::Tensor(const std::string& suffix)>;

struct PackedFormat {
  std::string name;
  std::string about;  // one line for --help and messages
  std::vector<c10::ScalarType> dtypes;  // the checkpoint dtypes it can have (scales and the other tensors); first = default
  // "" when `q` (a linear of a checkpoint of scheme `s`) can be stored; else why not.
  std::function<std::string(const QuantizedLinear& q, const PackedScheme& s)> refuses;
  // The linear's tensors by suffix (qweight, qzeros, scales, g_idx / weight_packed, ...), CPU.
  std::function<std::vector<std::pair<std::string, at::Tensor>>(const QuantizedLinear& q, const PackedScheme& s)> pack;
  // The suffixes, dtypes and shapes a linear [out, in] has in a checkpoint of scheme `s`.
  struct TensorLayout {
    std::string suffix;
    c10::ScalarType dtype;
    std::vector<int64_t> shape;
  };
  std::function<std::vector<TensorLayout>(const PackedScheme& s, int64_t out, int64_t in)> layout;
  // Back to a finished "uniform" artifact (scales widened exactly to fp32). The getter's tensors have
  // the layout's dtypes and shapes; value ranges are checked here and by the uniform format.
  std::function<QuantizedLinear(const PackedTensorGetter& get, const PackedScheme& s, int64_t out, int64_t in,
                                const std::string& where)>
      unpack;
  // config.json's `quantization_config` for scheme `s`.
  std::function<nlohmann::json(const PackedScheme& s)> config;
  // The scheme a `quantization_config` describes; refuses what lowbit cannot read, naming `where` and the field.
  std::function<PackedScheme(const nlohmann::json& config, const std::string& where)> parse;
  // Other files the format's loaders read (gptq: quantize_config.json), name -> content.
  std::function<std::vector<std::pair<std::string, std::string>>(const PackedScheme& s)> extra_files;
};

// The registered formats, in order (gptq, awq, compressed-tensors).
const std::vector<PackedFormat>& packed_formats();
// By registry name; null when none.
const PackedFormat* find_packed_format(const std::string& name);

// The scheme a uniform artifact asks for (bits, group size, symmetry, act-order), in `format`;
// "" refusal when `q` is not a uniform artifact is the caller's (packed_refusal below).
PackedScheme scheme_of(const QuantizedLinear& q, const std::string& format);
// "" when `q` packs into format `f` under scheme `s` (uniform, same bits/group size/symmetry as the
// checkpoint's first linear, the format's own limits); else why not.
std::string packed_refusal(const PackedFormat& f, const QuantizedLinear& q, const PackedScheme& s);

// Helpers shared by the format files.
int64_t groups_of(int64_t in, int64_t group_size);
// True when g_idx [in] is column / group_size (no act-order permutation).
bool consecutive_groups(const at::Tensor& g_idx, int64_t group_size);
// scale [out, groups] fp32 rounded to `dtype`, refused (naming `where`) where it overflows or vanishes.
at::Tensor rounded_scales(const at::Tensor& scale, c10::ScalarType dtype, const std::string& where);
// Field `key` of a quantization_config `c` as a T, or `fallback` when absent or null; a value of
// another type is refused naming `where` and the field.
[[noreturn]] void bad_config_field(const nlohmann::json& c, const char* key, const std::string& where);
template <class T>
T config_field(const nlohmann::json& c, const char* key, T fallback, const std::string& where) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  if (c[key].is_number_float() && std::is_integral_v<T> && !std::is_same_v<T, bool>) bad_config_field(c, key, where);
  try {
    return c[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    bad_config_field(c, key, where);
  }
}
// A format's extra_files when it has none.
std::vector<std::pair<std::string, std::string>> no_extra_files(const PackedScheme&);
// The registration function of each format (one per file).
PackedFormat gptq_packed_format();
PackedFormat awq_packed_format();
PackedFormat compressed_tensors_packed_format();

}  // namespace lowbit
