// DB-LLM's stage 2 student (docs/methods/db-llm.md): a run whose linears are all dual_binary
// (w = α1·b1 + α2·b2 per (row, group)), held whole on one rank with its planes fixed and its scales
// α trainable, over the teacher's (the base model's) embedding, norms and head. Also the file the
// trained scales are kept in, which evaluation applies to the run's blocks.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/model/llama_weights.h"
#include "framework/train/adamw.h"
#include "methods/method.h"

namespace lowbit {

struct EvalTarget;

// The name of a linear's trained scales in the scales file: "model.layers.{block}.{module}.alpha".
std::string dual_binary_scale_name(int64_t block, const std::string& module);

class DualBinaryStudent {
 public:
  // Block b's artifacts (every linear dual_binary) and replaced parameters, for b in the teacher's blocks.
  using BlockReader = std::function<QuantizedBlock(int64_t block)>;
  // The student over `teacher` (the run's base model, whole, in the compute dtype on the training
  // device): the planes and scales from `read`, the embedding, head and any parameter the run does not
  // replace are the teacher's tensors (shared, not copied). Refuses a linear of another format,
  // naming `where` (the run), the block and the linear.
  DualBinaryStudent(const LlamaWeights& teacher, const BlockReader& read, const std::string& where);
  // The student of a run's shards (`t` a run of method db-llm).
  static DualBinaryStudent of_run(const EvalTarget& t, const LlamaWeights& teacher);

  // The scales of every linear, named by dual_binary_scale_name, fp32 [2, out, groups], each with
  // lr_scale = the RMS of its linear's stage-1 weight (relative learning rates, as stage 1), no decay.
  std::vector<Parameter> parameters() const;
  // ids [batch, seq] -> logits [batch, seq, vocab] fp32, each linear's weight decoded from its planes
  // and current α (differentiable in α; autograd keeps the boolean planes, not float copies).
  at::Tensor logits(const at::Tensor& ids) const;

  // The scales as a safetensors file (fp32), and back (every scale must be there, of its shape, finite).
  void save_scales(const std::string& path) const;
  void load_scales(const std::string& path);

 private:
  struct Linear {
    at::Tensor planes;  // bool [2, out, in] on the device
    at::Tensor alpha;   // fp32 [2, out, groups] on the device (the trained parameter)
    int64_t group_size = 0;
    double weight_rms = 0;  // of the stage-1 weight α1·b1 + α2·b2
  };
  LlamaWeights skeleton_;                               // everything but the linears (left undefined)
  std::vector<std::map<std::string, Linear>> linears_;  // per block, by module
};

// Reads a scales file written by save_scales and puts its α into a run's block `block` (each
// dual_binary linear's "alpha", the dequantized weight recomputed). `where` names the file for errors.
void apply_trained_scales(const std::string& scales_file, int64_t block, QuantizedBlock& q);

}  // namespace lowbit
