// The method interface (v2): a quantization method is a pure function of one decoder block's
// context -- its weights, calibration inputs and statistics, and the means to run the block's
// halves with candidate weights -- to the quantized block: linear artifacts, replaced parameters
// and a runtime forward spec. It knows nothing of ranks, MPI or HDF5; the driver gathers what
// needs() declares and stores what quantize_block() returns. docs/architecture.md says how to add one.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/calibrate/block_context.h"
#include "framework/model/activation_quant.h"
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
// "attention", "attention_output", "mlp", "mlp_down": names in shards, caches and messages.
const char* linear_input_name(LinearInput in);
// Refuses a group size that does not divide every linear's inputs, naming `where` (the config file).
void check_group_size_divides(int64_t group_size, const LlamaConfig& c, const std::string& where);

// Statistics of a linear input the driver can gather (one pass of the block over its inputs).
// Hessian: GPTQ's (2/N) Σ X Xᵀ, a running mean in fp32; HessianF64: QuIP's (1/N) Σ X Xᵀ, summed in
// float64 and divided at the end (QuantMethod.add_batch / post_batch); both stored fp32.
enum class Statistic { Hessian, AbsMax, AbsMean, HessianF64 };
const char* statistic_name(Statistic s);  // "hessian", "abs_max", "abs_mean", "hessian_f64"
// Every kind, in a fixed order (caches, shards and checks iterate over it).
const std::array<Statistic, 4>& all_statistics();
// The [in, in] kinds (large; kept in a shard only when asked).
inline bool is_hessian(Statistic s) { return s == Statistic::Hessian || s == Statistic::HessianF64; }

struct MethodNeeds {
  std::vector<Statistic> statistics;  // of every distinct linear input (METHODS.md §1.1)
  bool true_sequential = false;       // statistics regathered after each linear group is quantized
  // The method reads BlockContext::linear_input: the four cached inputs of a block (N x L x
  // (3 hidden + intermediate) activations) are part of its working memory (`lowbit plan` counts them).
  bool linear_inputs = false;
  // The method trains the block (DB-LLM): its working memory holds an fp32 copy of the block, latent
  // fp32 weights with their gradients and AdamW's two moments, a step's straight-through weights, and
  // copies of the block's inputs and targets (`lowbit plan` counts them).
  bool trains_block = false;
  // The propagation the method's reference uses, when it requires one: "full_precision" (the next
  // block's inputs from the original block; AWQ, SmoothQuant) or "quantized"; "" accepts either.
  std::string propagation;
  std::string propagation_reason;  // said when a config asks for the other
  bool needs(Statistic s) const;
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
  bool is_all() const { return on_[0] && on_[1] && on_[2] && on_[3]; }

 private:
  explicit LinearSet(std::array<bool, 4> on) : on_(on) {}
  std::array<bool, 4> on_;
};

// Calibration statistics of one block, by LinearInput (undefined where not asked for).
struct BlockStatistics {
  std::array<at::Tensor, 4> hessian;   // [in, in] fp32: (2/N) sum X X^T (METHODS.md §1.3)
  std::array<at::Tensor, 4> abs_max;   // [in] fp32: max over every calibration token of |x|
  std::array<at::Tensor, 4> abs_mean;  // [in] fp32: mean over every calibration token of |x|
  std::array<at::Tensor, 4> hessian_f64;  // [in, in] fp32: (1/N) sum X X^T, summed in float64
  int64_t sequences = 0;
  std::array<at::Tensor, 4>& of(Statistic s);
  const std::array<at::Tensor, 4>& of(Statistic s) const;
  // The statistic `s` of input `in`; a clear error naming both when it was not gathered.
  const at::Tensor& get(Statistic s, LinearInput in) const;
};

// The artifact of one quantized linear, in one of the formats of methods/common/artifact_formats.
struct QuantizedLinear {
  std::string format;  // "uniform": integer codes + per-(row, group) scale and zero + g_idx
  int bits = 0;
  int64_t group_size = 0;  // 0: per output channel
  bool symmetric = false;
  double bits_per_weight = 0;                 // storage per weight incl. scales/zeros (the format says how)
  at::Tensor weight;                          // [out, in] fp32, dequantized (fake-quant)
  std::map<std::string, at::Tensor> tensors;  // codes [out, in] u8, scale/zero [out, groups], g_idx [in]
  double loss = -1;                           // the method's own error estimate, -1 if none
};

// What a method makes of one block: the artifacts of its linears, block parameters it replaces
// in full precision (RMSNorm weights with folded scales, rows of a linear it does not quantize),
// and the runtime forward spec evaluation applies (activation quantization).
struct QuantizedBlock {
  std::map<std::string, QuantizedLinear> linears;  // module ("self_attn.q_proj") -> artifact
  std::map<std::string, at::Tensor> parameters;    // block parameter ("input_layernorm.weight") -> new value
  ActivationQuant activations;                     // runtime spec (off unless the method sets it)
  // Adds `other`'s linears and parameters (true-sequential groups); the specs must agree.
  void merge(QuantizedBlock other);
};

// The block's parameters by Hugging Face name (relative to the block) and field.
struct BlockParameter {
  const char* name;  // "input_layernorm.weight", "self_attn.q_proj.weight", ...
  at::Tensor BlockWeights::*field;
};
const std::array<BlockParameter, 9>& block_parameters();
// `b` with every parameter in `dtype` on `device` (tensors already there are shared, not copied).
BlockWeights convert_block(const BlockWeights& b, c10::ScalarType dtype, c10::Device device);
// `b` with `q` applied: each quantized linear's dequantized weight, each replaced parameter, the
// forward spec; tensors cast to b's device and dtype. Refuses unknown names and other shapes,
// naming `where` (the shard, or the method). One function for fresh and resumed blocks alike.
BlockWeights apply_quantized_block(const BlockWeights& b, const QuantizedBlock& q, const std::string& where);

class Method {
 public:
  virtual ~Method() = default;
  virtual MethodNeeds needs() const = 0;
  // Refuses settings the model's shapes cannot take (a group size that does not divide a linear's
  // inputs, ...) before a run creates anything; `where` names the config file in the message.
  virtual void check_model(const LlamaConfig& c, const std::string& where) const {}
  // Quantizes the linears of `which` in ctx's block (ctx.statistics() hold what needs() asked for,
  // for those linears' inputs). Pure: the same context gives the same block on any device count.
  virtual QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const = 0;
};

// A method that quantizes each linear alone from its weight [out, in] and the Hessian of its input
// (GPTQ, PB-LLM, BiLLM): needs the Hessian; quantize_block runs quantize_linear on each linear of `which`.
class PerLinearHessianMethod : public Method {
 public:
  MethodNeeds needs() const override;
  QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const override;

 protected:
  // `module`: "self_attn.q_proj", ... (for messages).
  virtual QuantizedLinear quantize_linear(const at::Tensor& w, const at::Tensor& h, const std::string& module) const = 0;
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
void register_awq(MethodRegistry& r);
void register_smoothquant(MethodRegistry& r);
void register_pb_llm(MethodRegistry& r);
void register_billm(MethodRegistry& r);
void register_slim_llm(MethodRegistry& r);
void register_quip(MethodRegistry& r);
void register_nf4(MethodRegistry& r);
void register_db_llm(MethodRegistry& r);

}  // namespace lowbit
