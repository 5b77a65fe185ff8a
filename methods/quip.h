// QuIP (METHODS.md §8; Cornell-RelaxML/QuIP, opt.py's --incoh_processing flag set with --quant ldlq
// --lazy_batch): incoherence pre-processing (rescale, random butterfly orthogonals U and V, H
// normalised + 0.01·I, GPTQ's dead fix and damping), the "b" quantizer (one σ = 2.4·RMS(W) per
// matrix), LDLQ in reverse column order in lazy batches, optional greedy passes, and the
// post-processing back to the original basis. The parts are exposed for the reference tests.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>

#include "methods/common/butterfly.h"
#include "methods/method.h"

namespace lowbit {

struct QuipOptions {
  int bits = 2;
  int npasses = 0;          // greedy passes after LDLQ (opt.py's default 0; llama.py's 1)
  int64_t blocksize = 128;  // LDLQ's lazy batch (--lazy_batch)
  double percdamp = 0.01;   // GPTQ's damping, of the mean diagonal
  uint64_t seed = 0;        // the transforms' seed (with the block index and the module name)
};

// The transforms of one linear: U over its `out` outputs, then V over its `in` inputs, drawn in that
// order from SeededStream(seed, block, module) -- a function of those alone.
std::pair<Butterfly, Butterfly> quip_transforms(uint64_t seed, int64_t block, const std::string& module, int64_t out,
                                                int64_t in);

// LDLQ (round_ldl_block, then the greedy passes): targets w [m, d] fp32 in [0, 2^bits − 1], h
// [d, d] fp32 (pre-processed and damped) -> codes [m, d] fp32 (integers), on w's device.
at::Tensor quip_ldlq(const at::Tensor& w, const at::Tensor& h, int bits, int64_t blocksize, int npasses,
                     const std::string& where);

// One linear: w [out, in] (any float dtype), h [in, in] fp32 = (1/N) Σ X Xᵀ (Statistic::HessianF64)
// -> a finished "incoherent" artifact. `where` names the linear in messages.
QuantizedLinear quip_quantize_linear(const at::Tensor& w, const at::Tensor& h, const Butterfly& u, const Butterfly& v,
                                     const QuipOptions& o, const std::string& where);

}  // namespace lowbit
