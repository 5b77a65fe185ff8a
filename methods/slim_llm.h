// SliM-LLM (methods/slim_llm.cpp, docs/methods/slim-llm.md): per-group mixed widths b-1 / b / b+1
// chosen by group salience and an activation-aware count search, in GPTQ's loop with a
// range-searched group quantizer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "methods/method.h"

namespace lowbit {

struct SlimLlmOptions {
  int bits = 2;                  // the target average width b: groups at b - 1, b and b + 1
  int64_t group_size = 128;      // columns per group (= the lazy block, as run.py passes blocksize=groupsize)
  double percdamp = 0.01;
  double norm = 2.4;             // the range search's error exponent (Quantizer norm)
  double lambda_salience = 1.0;  // weight of the salient elements' error in the range search
  int64_t fixed_count = -1;      // >= 0: that many groups at b-1 and at b+1, no search (--salient_block/--nonsalient_block)
};

// A precomputed bit map: block -> linear ("self_attn.q_proj") -> one width per group, as the
// reference saves it (block_precision_<g>_<b>bit/<net>.pt; launch/slim_llm_bit_map.py turns that
// into the JSON this reads: {"0": {"self_attn.q_proj": [2, 3, 1, ...], ...}, ...}).
using SlimBitMap = std::map<int64_t, std::map<std::string, std::vector<int>>>;
// Reads and checks one (every width in 1..8, each linear's widths averaging `bits`), naming the file.
SlimBitMap read_slim_bit_map(const std::string& path, int bits);

// H as the reference's get_salience leaves it (in place, before fasterquant): the diagonal of dead
// inputs set to 1, then + 0.01·I (absolute). h [in, in] fp32 -> a new tensor.
at::Tensor slim_salience_hessian(const at::Tensor& h);

// The activation-aware count search of one linear (bitsearch.activation_aware_search): for k = 1 ..
// groups/2 - 1, the k least salient groups at b-1 bits and the k most salient at b+1, every group
// of the full-precision W quantized plainly (per-row min-max; 1 bit: sign(w - mean)·mean|w| + mean),
// scored per calibration sample by KL(softmax(X Ŵᵀ) ‖ softmax(Y)) summed over its tokens.
class SlimCountSearch {
 public:
  // w [out, in] the full-precision weight; h_salience from slim_salience_hessian.
  SlimCountSearch(const at::Tensor& w, const at::Tensor& h_salience, const SlimLlmOptions& o);
  int64_t candidates() const { return static_cast<int64_t>(low_.size()); }  // groups/2 - 1, possibly 0
  // One calibration sample: x [tokens, in] the linear's input, y [tokens, out] its full-precision output.
  void add_sample(const at::Tensor& x, const at::Tensor& y);
  const std::vector<std::vector<double>>& errors() const { return errors_; }  // [samples][candidates]
  const at::Tensor& weight() const { return w_; }  // [out, in] fp32: Y = X Wᵀ is the linear's output
  // The count of least mean error over the samples (NumPy's mean, the first minimum); 0 without candidates.
  int64_t best_count() const;

 private:
  at::Tensor w_;                     // [out, in] fp32
  at::Tensor at_b_;                  // [out, in] every group at b bits
  std::vector<at::Tensor> low_, high_;  // per candidate k: the k-th moved groups at b-1 / b+1 bits
  std::vector<int64_t> order_;                // groups by salience, ascending
  int64_t group_size_;
  std::vector<std::vector<double>> errors_;
};

// NumPy's np.mean of float64 values (its pairwise summation), exposed for its test.
double numpy_mean(const std::vector<double>& v);

// One linear: w [out, in], h [in, in] fp32 (slim_salience_hessian's when the search ran) -> a finished
// "mixed_uniform" artifact. Widths from `count` (k groups at b-1 and k at b+1 by the salience of the
// loop's U) with the reference's symmetric quirk for b-1 groups before the first b / b+1 group, or
// from `bit_map` (one width per group, always asymmetric) when given.
QuantizedLinear slim_llm_quantize(const at::Tensor& w, const at::Tensor& h, const SlimLlmOptions& o, int64_t count,
                                  const std::string& where, const std::vector<int>* bit_map = nullptr);

}  // namespace lowbit
