#include "framework/model/lora_adapter.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"

namespace lowbit {

at::Tensor add_adapter(const BlockAdapters& adapters, BlockTensor linear, const at::Tensor& x, const at::Tensor& y) {
  const LinearAdapter& ad = adapters.at(linear);
  if (!ad.defined()) return y;
  const at::Tensor xa = x.to(ad.a.scalar_type());                                   // [..., in]
  const at::Tensor xd = adapters.dropout ? adapters.dropout(adapters.layer, linear, xa) : xa;
  at::Tensor u = at::linear(xd, ad.a);                                              // [..., r]
  const int64_t r = ad.a.size(0);
  if (ad.iec()) {  // + β_A · mean of each of r contiguous input chunks (undropped x)
    auto chunks = xa.sizes().vec();
    chunks.back() = r;
    chunks.push_back(-1);
    u = u + ad.beta_a * xa.reshape(chunks).mean(-1);                                // [..., r]
  }
  at::Tensor v = at::linear(u, ad.b);                                               // [..., out]
  if (ad.iec()) {  // + β_B · u_k on each of r contiguous output chunks
    const auto out_shape = v.sizes().vec();
    auto chunks = out_shape;
    chunks.back() = r;
    chunks.push_back(-1);
    v = (v.reshape(chunks) + ad.beta_b * u.unsqueeze(-1)).reshape(out_shape);
  }
  return y + (v * ad.scaling).to(y.scalar_type());
}

at::Tensor merged_delta(const LinearAdapter& ad) {
  LOWBIT_ASSERT(ad.defined(), "merged_delta of a linear without an adapter");
  at::Tensor a = ad.a.to(at::kFloat), b = ad.b.to(at::kFloat);  // [r, in], [out, r]
  const int64_t r = a.size(0), in = a.size(1), out = b.size(0);
  if (ad.iec()) {
    // G [r, in]: row k averages input chunk k; R [out, r]: output chunk k copies u_k.
    const at::Tensor chunk_of_in = at::arange(in, a.options().dtype(at::kLong)).floor_divide(in / r);
    const at::Tensor chunk_of_out = at::arange(out, a.options().dtype(at::kLong)).floor_divide(out / r);
    const at::Tensor rows = at::arange(r, a.options().dtype(at::kLong));
    const at::Tensor g = rows.unsqueeze(1).eq(chunk_of_in.unsqueeze(0)).to(at::kFloat) / static_cast<double>(in / r);
    const at::Tensor rep = chunk_of_out.unsqueeze(1).eq(rows.unsqueeze(0)).to(at::kFloat);
    a = a + ad.beta_a.to(at::kFloat) * g;
    b = b + ad.beta_b.to(at::kFloat) * rep;
  }
  return at::matmul(b, a) * ad.scaling;  // [out, in]
}

}  // namespace lowbit
