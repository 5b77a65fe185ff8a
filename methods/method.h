// The method interface: a quantization method is a pure function of one decoder block's weights
// and its calibration statistics -> the quantized block. It knows nothing of ranks, MPI or HDF5;
// the driver collects what needs() asks for and stores what quantize_block() returns.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"

namespace lowbit {

class YamlSection;

// The seven linears of a block, their Hugging Face module names and which input they read.
struct BlockLinear {
  const char* module;                 // "self_attn.q_proj", ...
  at::Tensor BlockWeights::*weight;   // [out, in]
  LinearInput input;
};
const std::array<BlockLinear, 7>& block_linears();
// Features of a linear input: hidden_size (attention, mlp), q_dim (attention output), intermediate (down).
int64_t linear_input_size(const LlamaConfig& c, LinearInput in);
// Refuses a group size that does not divide every linear's inputs, naming `where` (the config file).
void check_group_size_divides(int64_t group_size, const LlamaConfig& c, const std::string& where);

struct MethodNeeds {
  bool hessian = false;          // H of each distinct linear input (METHODS.md §1.3)
  bool true_sequential = false;  // statistics regathered after each linear group is quantized
};

// A subset of a block's linears, by the input they read: all seven, or (true_sequential) one group.
class LinearSet {
 public:
  static LinearSet all() { return LinearSet({true, true, true, true}); }
  static LinearSet only(LinearInput in) {
    LinearSet s({false, false, false, false});
    s.on_[static_cast<int>(in)] = true;
    return s;
  }
  bool contains(const BlockLinear& l) const { return on_[static_cast<int>(l.input)]; }

 private:
  explicit LinearSet(std::array<bool, 4> on) : on_(on) {}
  std::array<bool, 4> on_;
};

// Calibration statistics of one block.
struct BlockStatistics {
  std::array<at::Tensor, 4> hessian;  // by LinearInput, [in, in] fp32 (undefined unless needed)
  int64_t sequences = 0;
};

// The artifact of one quantized linear.
struct QuantizedLinear {
  std::string format;  // "uniform": integer codes + per-(row, group) scale and zero + g_idx
  int bits = 0;
  int64_t group_size = 0;  // 0: per output channel
  bool symmetric = false;
  at::Tensor weight;                          // [out, in] fp32, dequantized (fake-quant)
  std::map<std::string, at::Tensor> tensors;  // codes [out, in] u8, scale/zero [out, groups], g_idx [in]
  double loss = -1;                           // the method's own error estimate, -1 if none
};

class Method {
 public:
  virtual ~Method() = default;
  virtual MethodNeeds needs() const = 0;
  // Refuses settings the model's shapes cannot take (a group size that does not divide a linear's
  // inputs, ...) before a run creates anything; `where` names the config file in the message.
  virtual void check_model(const LlamaConfig& c, const std::string& where) const {}
  // Module name ("self_attn.q_proj", ...) -> artifact, for the linears of `which` (the statistics
  // hold what needs() asked for, for those linears' inputs).
  virtual std::map<std::string, QuantizedLinear> quantize_block(const BlockWeights& block, const BlockStatistics& stats,
                                                                const LinearSet& which) const = 0;
};

struct MethodInfo {
  std::string name;
  std::string summary;
  std::string parameters;  // "bits (4), group_size (128), ..." for `lowbit methods`
  std::function<std::unique_ptr<Method>(YamlSection& params)> create;  // reads and checks its parameters
};

// Registered methods by name: refuses duplicates, lists what it has.
class MethodRegistry {
 public:
  static MethodRegistry& builtin();  // every method lowbit ships
  void add(MethodInfo info);
  const MethodInfo& get(const std::string& name) const;  // throws listing the known names
  std::vector<std::string> names() const;

 private:
  std::map<std::string, MethodInfo> methods_;
};

// The registration functions of the methods (one per method file).
void register_rtn(MethodRegistry& r);
void register_gptq(MethodRegistry& r);

}  // namespace lowbit
