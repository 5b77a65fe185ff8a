// The GPTQ family's column loop with a pluggable quantizer (METHODS.md §1.4, §5 step 3): dead
// inputs zeroed, optional act-order, damping, U = the upper Cholesky factor of H⁻¹; then lazy
// blocks of `block_size` columns, each column quantized by the quantizer and its scaled error
// (w - q) / d spread over the block's later columns (intra-block updates; off for BiLLM) and, at
// the block's end, over every column after it (the lazy update). GPTQ, PB-LLM, BiLLM and SliM-LLM
// differ only in the quantizer and the state it keeps: fitted once on the original W (prepare),
// refitted per group or searched per block on the current W (begin_block), per column.
//
// ATen ops only, on any device, no host reads inside the loop: the route GPTQ runs on GPUs (its
// row-tiled CPU kernel, gptq_solver.cpp, is the same algorithm for the uniform grid, on CPU only).
// Ops and rounding are the reference's: a product, then a subtraction (no fused multiply-add).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "methods/common/gptq_solver.h"

namespace lowbit {

struct QuantizedLinear;  // methods/method.h

class ColumnQuantizer {
 public:
  virtual ~ColumnQuantizer() = default;
  // W [rows, cols] fp32 as given, before dead inputs are zeroed (GPTQ fits its per-channel grids here).
  virtual void before_dead_columns(const at::Tensor& w) {}
  // Once before the loop: w_original [rows, cols] (dead inputs zeroed, original column order), w the
  // same in the loop's order, perm the loop's order (undefined: the original one), u [cols, cols]
  // the upper factor of the damped H⁻¹ in the loop's order (its diagonal: the pivots d).
  virtual void prepare(const at::Tensor& w_original, const at::Tensor& w, const at::Tensor& perm, const at::Tensor& u) {}
  // At the start of the lazy block [i1, i2): w [rows, cols] as the lazy updates of the earlier
  // blocks left it (the block's own columns not yet updated inside the block).
  virtual void begin_block(const at::Tensor& w, int64_t i1, int64_t i2) {}
  // Column c (a position in the loop's order) of every row from its current values w [rows]:
  // writes the dequantized values into out [rows] (on w's device, fp32).
  virtual void quantize_column(const at::Tensor& w, int64_t c, at::Tensor& out) = 0;
  // After the block's last column.
  virtual void end_block(int64_t i1, int64_t i2) {}
};

struct ErrorFeedbackOptions {
  double percdamp = 0.01;          // λ = percdamp · mean(diag H)
  int64_t block_size = 128;        // lazy-update block
  bool act_order = false;          // columns in order of decreasing diag(H)
  bool intra_block_updates = true; // false: a column's error reaches only the columns after its block
  GptqFactorization factorization = GptqFactorization::Reversed;
};

// The loop as the GPTQ-family references run it (PB-LLM, BiLLM, SliM-LLM): their three
// factorisations bit for bit, no act-order; intra_block_updates false for BiLLM.
inline ErrorFeedbackOptions reference_loop(double percdamp, int64_t block_size, bool intra_block_updates = true) {
  ErrorFeedbackOptions o;
  o.percdamp = percdamp;
  o.block_size = block_size;
  o.intra_block_updates = intra_block_updates;
  o.factorization = GptqFactorization::Reference;
  return o;
}

struct ErrorFeedbackResult {
  at::Tensor weight;  // [rows, cols] fp32, dequantized, original column order
  at::Tensor losses;  // [cols] Σ_rows (w - q)² / d² / 2, original order
  at::Tensor perm;    // the loop's order (undefined without act-order)
};

// w [rows, cols] (any float dtype), h [cols, cols] fp32, on one device; neither is modified.
ErrorFeedbackResult error_feedback_solve(const at::Tensor& w, const at::Tensor& h, ColumnQuantizer& quantizer,
                                         const ErrorFeedbackOptions& options);

// A column quantizer whose state ends as a finished artifact (PB-LLM, BiLLM, SliM-LLM).
class ArtifactColumnQuantizer : public ColumnQuantizer {
 public:
  virtual QuantizedLinear artifact(const std::string& where) const = 0;
};

// The loop with `quantizer`, then its artifact with @loss = Σ of the loop's losses.
QuantizedLinear error_feedback_artifact(const at::Tensor& w, const at::Tensor& h, ArtifactColumnQuantizer& quantizer,
                                        const ErrorFeedbackOptions& options, const std::string& where);

}  // namespace lowbit
