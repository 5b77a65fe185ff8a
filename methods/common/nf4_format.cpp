// The "nf4" artifact format: bitsandbytes' NF4 state of a linear (methods/common/nf4.h), packed as
// bitsandbytes packs it, so the bytes export as a Linear4bit's state as they are.
//   shape          i64 [2]                 out, in (the codes run over the weight row-major)
//   packed         u8  [(out·in + 1) / 2]  two codes per byte, the first in the high nibble
//   absmax         f32 [blocks]            per @group_size block; or, double-quantized:
//   absmax         u8  [blocks]            codes into the 8-bit dynamic map, with
//   nested_absmax  f32 [ceil(blocks / 256)] and offset f32 [1]
//   tau1 / tau2    u8 [blocks] / f32 [ceil(blocks / 256)]   (optional: IR-QLoRA's ICQ shift
//                                          τ = map[tau1] · tau2 per block, added to the decode)
#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/nf4.h"

namespace lowbit {
namespace {

constexpr int64_t kNested = 256;  // bitsandbytes' nested block size (and ICQ's super-block)

Nf4State state_of(const QuantizedLinear& q) {
  Nf4State s;
  s.packed = q.tensors.at("packed");
  s.absmax = q.tensors.at("absmax");
  if (q.tensors.count("nested_absmax")) {
    s.nested_absmax = q.tensors.at("nested_absmax");
    s.offset = q.tensors.at("offset");
  }
  return s;
}

void check_nf4(const QuantizedLinear& q, const std::string& where) {
  const at::Tensor& shape = artifact_tensor(q, "shape", at::kLong, 1, where);
  LOWBIT_CHECK(shape.size(0) == 2, where, ": shape has ", shape.size(0), " entries (2: out, in)");
  const int64_t out = shape[0].item<int64_t>(), in = shape[1].item<int64_t>();
  LOWBIT_CHECK(out > 0 && in > 0, where, ": shape [", out, ", ", in, "]");
  LOWBIT_CHECK(q.bits == 4, where, ": @bits is ", q.bits, " (NF4 codes are 4 bits)");
  LOWBIT_CHECK(q.group_size >= 2 && q.group_size % 2 == 0, where, ": @group_size is ", q.group_size,
               " (the NF4 block size: even, >= 2)");
  const int64_t n = out * in, blocks = (n + q.group_size - 1) / q.group_size;
  const at::Tensor& packed = artifact_tensor(q, "packed", at::kByte, 1, where);
  LOWBIT_CHECK(packed.size(0) == (n + 1) / 2, where, ": packed has ", packed.size(0), " bytes for ", n, " weights");
  const bool nested = q.tensors.count("nested_absmax") > 0;
  const at::Tensor& absmax = artifact_tensor(q, "absmax", nested ? at::kByte : at::kFloat, 1, where);
  LOWBIT_CHECK(absmax.size(0) == blocks, where, ": absmax has ", absmax.size(0), " entries for ", blocks, " blocks");
  std::vector<at::Tensor> bad;
  if (nested) {
    const at::Tensor& a2 = artifact_tensor(q, "nested_absmax", at::kFloat, 1, where);
    const at::Tensor& off = artifact_tensor(q, "offset", at::kFloat, 1, where);
    LOWBIT_CHECK(a2.size(0) == (blocks + kNested - 1) / kNested && off.size(0) == 1, where, ": nested_absmax has ",
                 a2.size(0), " entries (", (blocks + kNested - 1) / kNested, ") and offset ", off.size(0), " (1)");
    bad.push_back(a2.isfinite().logical_not().logical_or(a2 < 0).sum() + off.isfinite().logical_not().sum());
  } else {
    bad.push_back(absmax.isfinite().logical_not().logical_or(absmax < 0).sum());
  }
  if (q.tensors.count("tau1") || q.tensors.count("tau2")) {
    const at::Tensor& t1 = artifact_tensor(q, "tau1", at::kByte, 1, where);
    const at::Tensor& t2 = artifact_tensor(q, "tau2", at::kFloat, 1, where);
    LOWBIT_CHECK(t1.size(0) == blocks && t2.size(0) == (blocks + kNested - 1) / kNested, where, ": tau1 has ",
                 t1.size(0), " entries (", blocks, ") and tau2 ", t2.size(0), " (", (blocks + kNested - 1) / kNested, ")");
    bad.push_back(t2.isfinite().logical_not().logical_or(t2 < 0).sum());
  }
  const at::Tensor counts = at::stack(bad).cpu();
  for (int64_t i = 0; i < counts.size(0); ++i)
    LOWBIT_CHECK(counts[i].item<int64_t>() == 0, where, i == 0 ? ": absmax (or nested_absmax / offset)" : ": tau2",
                 " holds non-finite or negative values");
}

at::Tensor dequantize_nf4(const QuantizedLinear& q) {
  const at::Tensor& shape = q.tensors.at("shape");
  const int64_t out = shape[0].item<int64_t>(), in = shape[1].item<int64_t>(), n = out * in;
  at::Tensor w = nf4_dequantize(state_of(q), n, q.group_size, kNested);  // [n] fp32
  if (q.tensors.count("tau1")) {
    const int64_t blocks = q.tensors.at("tau1").size(0);
    const at::Tensor map = bnb_dynamic_map().to(w.device());
    const at::Tensor tau = map.index_select(0, q.tensors.at("tau1").to(at::kLong)) *
                           q.tensors.at("tau2").repeat_interleave(kNested).narrow(0, 0, blocks);  // [blocks]
    w = w + tau.repeat_interleave(q.group_size).narrow(0, 0, n);
  }
  return w.view({out, in});
}

// 4 bits per weight; per block the absmax (32 bits, or 8 with double quantization plus 32 per 256
// blocks and the 32-bit offset); ICQ's τ: 8 bits per block plus 32 per 256 blocks.
double nf4_bits(const QuantizedLinear& q) {
  const at::Tensor& shape = q.tensors.at("shape");
  const double n = static_cast<double>(shape[0].item<int64_t>() * shape[1].item<int64_t>());
  const double blocks = static_cast<double>(q.tensors.at("absmax").size(0));
  const double nested = std::ceil(blocks / kNested);
  double bits = 4 * n;
  bits += q.tensors.count("nested_absmax") ? 8 * blocks + 32 * nested + 32 : 32 * blocks;
  if (q.tensors.count("tau1")) bits += 8 * blocks + 32 * nested;
  return bits / n;
}

}  // namespace

ArtifactFormat nf4_format() {
  ArtifactFormat f;
  f.name = "nf4";
  f.summary = "NormalFloat-4 (bitsandbytes' packing): a 4-bit code per weight into the 16 NF4 values, an absmax per "
              "block (optionally double-quantized to 8 bits), optionally IR-QLoRA's ICQ shift per block";
  f.check = check_nf4;
  f.dequantize = dequantize_nf4;
  f.bits_per_weight = nf4_bits;
  f.widths = [](const QuantizedLinear&) { return std::map<int, double>{{4, 1.0}}; };
  f.describe = [](const QuantizedLinear& q) {
    std::string s = q.tensors.count("nested_absmax") ? "absmax double-quantized (8-bit)" : "absmax fp32";
    return q.tensors.count("tau1") ? s + ", ICQ shift per block" : s;
  };
  return f;
}

}  // namespace lowbit
