// IR-QLoRA's Information Calibration Quantization (METHODS.md §14; htqin/IR-QLoRA utils.py: search,
// nf4_quant, evaluate_entropy, quantize_tensor): per 64-weight NF4 block a shift τ chosen so that the
// block's 16 NF4 codes carry the most information. On the fp32 weight viewed as [S, 256, 64]:
//   τ0 = the block's lower median, A = max |w − τ0|;
//   for each factor f of numpy's linspace(−r·σ, r·σ, 2n + 1) (σ = 1 / Φ⁻¹(0.9677083), the quantile
//   rounded to fp32 as scipy returns it for the reference's fp32 argument), in
//   order: τ = f·A + τ0 (fp32), the NF4 codes of w − τ, their entropy per block (fp32, −Σ p log2 p
//   over the 16 values, 0·log 0 = 0); a block keeps f when its entropy is strictly larger than its
//   best so far (the first candidate starts it);
//   τ* = f*·A + τ0; τ2 = max |τ*| over each 256-block super-block; τ1 = the index of the dynamic
//   map's value nearest τ*/τ2 (the first of equals).
// The weight's NF4 codes are those of w − τ* (exact τ*); decoding adds map[τ1]·τ2 (the stored τ).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit {

struct IcqResult {
  at::Tensor tau;       // [blocks] fp32: τ* (what the codes were computed with)
  at::Tensor factor;    // [blocks] fp32: the chosen f per block
  at::Tensor tau1;      // [blocks] u8: τ*/τ2 as the index of its nearest dynamic-map value
  at::Tensor tau2;      // [blocks / 256] fp32
  at::Tensor entropy;   // [blocks] fp32: the codes' entropy at the chosen f
};

// w: [out, in], numel a multiple of 64 · 256 (refused otherwise, naming `where`).
IcqResult icq_search(const at::Tensor& w, double tau_range, int64_t tau_n, const std::string& where);
// The entropy (bits) of each 64-block's NF4 codes, codes u8 [blocks · 64] -> fp32 [blocks], as
// evaluate_entropy sums it.
at::Tensor nf4_block_entropy(const at::Tensor& codes, int64_t blocksize = 64);
// Φ⁻¹(p) in double precision.
double inverse_normal_cdf(double p);

}  // namespace lowbit
