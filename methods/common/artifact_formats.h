// The formats a quantized linear's artifact can take, in one registry (format name -> check,
// dequantize, bits per weight). The shard writer checks every artifact through it before a commit,
// the shard reader checks and dequantizes through it, the layer loop's fresh blocks are finished
// through it, and the tests use it: a fresh block and a resumed one are the same tensors by
// construction. A method with a new storage form adds one format here (its own file) and a test.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "methods/method.h"

namespace lowbit {

struct ArtifactFormat {
  std::string name;     // QuantizedLinear::format
  std::string summary;  // for docs and messages
  // Refuses an artifact whose tensors do not say what its attributes say (types, shapes, value
  // ranges), naming `where` ("FILE: /blocks/3/mlp.up_proj") and the offending dataset.
  std::function<void(const QuantizedLinear&, const std::string& where)> check;
  // The dequantized weight [out, in] fp32, on the tensors' device (the artifact is checked first).
  std::function<at::Tensor(const QuantizedLinear&)> dequantize;
  // Storage per weight in a deployable packing, scales and zeros included (the format says how).
  std::function<double(const QuantizedLinear&)> bits_per_weight;
  // The fraction of the weights stored at each payload width (code or sign bits per weight, before
  // masks and scales): uniform {b: 1}, SliM-LLM {1: .., 2: .., 3: ..}, PB-LLM {1: 0.9, 8: 0.1}.
  std::function<std::map<int, double>(const QuantizedLinear&)> widths;
  // Optional: what else `lowbit inspect` should say of an artifact (QuIP: its transforms' factors).
  std::function<std::string(const QuantizedLinear&)> describe;
};

class ArtifactFormats {
 public:
  static const ArtifactFormats& builtin();
  void add(ArtifactFormat f);
  // Refuses an unknown format, naming `where` and the known ones.
  const ArtifactFormat& get(const std::string& name, const std::string& where) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ArtifactFormat> formats_;
};

// A format check's access to one of the artifact's tensors: present, of `type` and `dim`
// dimensions, else refused naming `where` and the dataset.
const at::Tensor& artifact_tensor(const QuantizedLinear& q, const char* name, at::ScalarType type, int64_t dim,
                                  const std::string& where);

// The format's checks, plus: a finite weight of the artifact's shape when one is attached.
void check_artifact(const QuantizedLinear& q, const std::string& where);
// Checks `q`, then sets q.weight (dequantized) and q.bits_per_weight from its tensors: how a
// method finishes an artifact and how a shard's artifact is rebuilt, one code path for both.
void finish_artifact(QuantizedLinear& q, const std::string& where);
// The artifact's width histogram through its format (see ArtifactFormat::widths).
std::map<int, double> artifact_widths(const QuantizedLinear& q);
// The format's extra description of the artifact ("" when it has none).
std::string artifact_description(const QuantizedLinear& q);

// A "uniform" artifact: codes [out, in] u8, scale/zero [out, groups] fp32, g_idx [in] int32 (a
// column's group; consecutive groups unless act-order permuted them), finished.
QuantizedLinear uniform_linear(at::Tensor codes, at::Tensor scale, at::Tensor zero, at::Tensor g_idx, int bits,
                               int64_t group_size, bool symmetric, const std::string& where);

struct UniformQuantSpec;
// w [out, in] rounded to nearest on spec's grid (per row or per (row, group)), as a finished
// "uniform" artifact: RTN, and the last step of AWQ and SmoothQuant.
QuantizedLinear round_to_nearest_linear(const at::Tensor& w, const UniformQuantSpec& spec, const std::string& where);

// The registration function of each format (one per format file).
ArtifactFormat uniform_format();
ArtifactFormat binary_planes_format();
ArtifactFormat mixed_uniform_format();
ArtifactFormat incoherent_format();
ArtifactFormat nf4_format();
ArtifactFormat dual_binary_format();

}  // namespace lowbit
