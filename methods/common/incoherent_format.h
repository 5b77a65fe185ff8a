// The "incoherent" artifact format (QuIP): b-bit codes of the weight in the incoherent basis, one
// scale σ per matrix, the rescale vector s of the inputs and the two butterfly orthogonals -- U over
// the outputs, V over the inputs -- as their factors (permutations and small orthogonal blocks), never
// as dense matrices. The weight is QuIP's post-processing (method.py postproc) of the codes:
//     Q = fp16(((codes / maxq) · 2 − 1) · σ)          (quantize_weight_vecbal, qfn 'b', then .half())
//     W = fp16(fp16(Uᵀ · Q · V) / s)                  (two fp16 roundings: the reference's fp16 weight)
// with the products taken in float64 through the butterfly structure (O(n · (p1 + p2)) per row).
//   codes     u8  [out, in]              0 .. 2^bits − 1
//   sigma     f32 [1]                    > 0
//   rescale   f32 [in]                   > 0
//   u.perm_in, u.perm_out   i64 [out]    permutations of 0 .. out − 1
//   u.blocks1 f64 [out / p1, p1, p1], u.blocks2 f64 [out / p2, p2, p2]   (p1 · p2 = out, QuIP's factors)
//   v.perm_in, v.perm_out, v.blocks1, v.blocks2                          (the same over in)
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "methods/common/butterfly.h"
#include "methods/method.h"

namespace lowbit {

// A finished "incoherent" artifact (checked, dequantized, bits counted).
QuantizedLinear incoherent_linear(at::Tensor codes, at::Tensor sigma, at::Tensor rescale, const Butterfly& u,
                                  const Butterfly& v, int bits, const std::string& where);

// The artifact's U ('u') or V ('v'), as stored; the artifact must have passed its format's check.
Butterfly incoherent_transform(const QuantizedLinear& q, char which);

}  // namespace lowbit
