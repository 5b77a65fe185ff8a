// bitsandbytes' NF4 and its double quantization: nf4.h says which of its code paths and rules.
#include "methods/common/nf4.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "framework/core/error.h"

namespace lowbit {
namespace {

// The 15 midpoints of a sorted code book, in fp32: (c_i + c_{i+1}) / 2.
at::Tensor midpoints(const at::Tensor& code) {
  const int64_t k = code.size(0);
  return (code.narrow(0, 0, k - 1) + code.narrow(0, 1, k - 1)) / 2;
}

// The 8-bit kernel's table: entry i = the number of the dynamic map's midpoints strictly below
// −1 + 2i / 65535, in the kernel's fp32 arithmetic (0.5f · (c_j + c_{j+1}); −1.0f + (2.0f · i) / 65535).
const std::vector<uint8_t>& blockwise_lut() {
  static const std::vector<uint8_t> lut = [] {
    const at::Tensor map = bnb_dynamic_map();
    const float* c = map.data_ptr<float>();
    std::array<float, 255> mid{};
    for (int j = 0; j < 255; ++j) mid[j] = 0.5f * (c[j] + c[j + 1]);
    std::vector<uint8_t> t(65536);
    for (int i = 0; i < 65536; ++i) {
      const float val = -1.0f + (2.0f * static_cast<float>(i)) / 65535.0f;
      t[i] = static_cast<uint8_t>(std::lower_bound(mid.begin(), mid.end(), val) - mid.begin());
    }
    return t;
  }();
  return lut;
}


at::Tensor make_dynamic_map() {
  // Per exponent e = 0 .. 6: the 2^e midpoints of linspace(0.1, 1, 2^e + 1) (fp32), times 10^(e − 6),
  // both signs; then 0 and 1; sorted.
  std::vector<float> v;
  for (int e = 0; e <= 6; ++e) {
    const at::Tensor b = at::linspace(0.1, 1.0, (int64_t{1} << e) + 1, at::kFloat);
    const at::Tensor means = midpoints(b) * std::pow(10.0, e - 6);
    const float* m = means.data_ptr<float>();
    for (int64_t k = 0; k < means.size(0); ++k) v.push_back(m[k]);
    for (int64_t k = 0; k < means.size(0); ++k) v.push_back(-m[k]);
  }
  v.push_back(0.0f);
  v.push_back(1.0f);
  std::sort(v.begin(), v.end());
  LOWBIT_CHECK(v.size() == 256, "the dynamic map has ", v.size(), " entries");
  return at::tensor(v, at::kFloat);
}
}  // namespace

at::Tensor bnb_dynamic_map() {
  static const at::Tensor map = make_dynamic_map();  // made once (every decode reads it); never written
  return map;
}

at::Tensor nf4_code_book() {
  // bitsandbytes' NF4 table (normal quantiles with offset 0.9677083, exact 0 and ±1), as fp32.
  static const std::vector<double> kValues = {
      -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
      -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
      0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};
  static const at::Tensor book = at::tensor(kValues, at::kDouble).to(at::kFloat);  // made once; never written
  return book;
}


std::pair<at::Tensor, at::Tensor> bnb_quantize_blockwise(const at::Tensor& x_in, int64_t blocksize) {
  const at::Tensor x = x_in.reshape(-1).to(at::kFloat);  // [n]
  const int64_t n = x.size(0), blocks = (n + blocksize - 1) / blocksize;
  const at::Tensor padded = at::constant_pad_nd(x, {0, blocks * blocksize - n}).view({blocks, blocksize});
  const at::Tensor absmax = padded.abs().amax(1);  // [blocks] (the zero padding never raises a max of |x|)
  // (A zero block's codes are 0 whatever its values: its scale is taken as 1 to keep NaN out.)
  const at::Tensor inv = at::where(absmax == 0, at::ones_like(absmax), absmax).reciprocal();
  const at::Tensor v = (padded * inv.unsqueeze(1)).clamp(-1, 1);
  // ⌊((v + 1) · 0.5 · 65535) + 0.5⌋, each step rounded to fp32 as the kernel computes it.
  const at::Tensor i = v.add(1).mul(0.5).mul(65535).add(0.5).floor().to(at::kLong).clamp(0, 65535);
  const std::vector<uint8_t>& lut = blockwise_lut();
  const at::Tensor table = at::from_blob(const_cast<uint8_t*>(lut.data()), {65536}, at::kByte).to(x.device());
  at::Tensor codes = table.index_select(0, i.reshape(-1)).view({blocks, blocksize});
  codes = codes.masked_fill((absmax == 0).unsqueeze(1), 0);  // a zero block: code 0 (the kernel's early exit)
  return {codes.reshape(-1).narrow(0, 0, n).contiguous(), absmax};
}

Nf4State nf4_quantize(const at::Tensor& w, int64_t blocksize, bool double_quant, int64_t nested_blocksize) {
  LOWBIT_CHECK(blocksize >= 2 && blocksize % 2 == 0, "NF4: blocksize ", blocksize, " must be even");
  const at::Tensor x = w.reshape(-1).to(at::kFloat);  // [n], row-major
  const int64_t n = x.size(0), full = n / blocksize, rem = n % blocksize;
  std::vector<at::Tensor> scaled, absmax;
  if (full > 0) {  // A · (1 / max(absmax, 1e-38)), the unclamped absmax stored
    const at::Tensor xb = x.narrow(0, 0, full * blocksize).view({full, blocksize});
    const at::Tensor am = xb.abs().amax(1);  // [full]
    scaled.push_back((xb * am.clamp_min(1e-38).reciprocal().unsqueeze(1)).reshape(-1));
    absmax.push_back(am);
  }
  if (rem > 0) {  // the last, partial block: A / max(absmax, 1e-38), the clamped value stored
    const at::Tensor xr = x.narrow(0, full * blocksize, rem);
    const at::Tensor am = xr.abs().amax(0, true).clamp_min(1e-38);  // [1]
    scaled.push_back(xr / am);
    absmax.push_back(am);
  }
  at::Tensor s = at::cat(scaled).clamp(-1, 1);
  if (n % 2 == 1) s = at::constant_pad_nd(s, {0, 1});  // x = 0: code 7
  const at::Tensor codes = at::bucketize(s, midpoints(nf4_code_book()).to(s.device())).to(at::kByte).view({-1, 2});
  Nf4State st;
  st.packed = codes.select(1, 0).bitwise_left_shift(4).bitwise_or(codes.select(1, 1)).contiguous();  // [(n + 1) / 2]
  st.absmax = at::cat(absmax);  // [blocks] fp32
  if (double_quant) {
    st.offset = st.absmax.mean().reshape({1});
    auto [q, absmax2] = bnb_quantize_blockwise(st.absmax - st.offset, nested_blocksize);
    st.absmax = q;
    st.nested_absmax = absmax2;
  }
  return st;
}

at::Tensor nf4_absmax(const Nf4State& s, int64_t nested_blocksize) {
  if (!s.double_quant()) return s.absmax;
  const int64_t blocks = s.absmax.size(0);
  const at::Tensor map = bnb_dynamic_map().to(s.absmax.device());
  const at::Tensor scale = s.nested_absmax.repeat_interleave(nested_blocksize).narrow(0, 0, blocks);
  return map.index_select(0, s.absmax.to(at::kLong)) * scale + s.offset;
}

at::Tensor nf4_unpack(const at::Tensor& packed, int64_t numel) {
  return at::stack({packed.bitwise_right_shift(4), packed.bitwise_and(15)}, 1).reshape(-1).narrow(0, 0, numel);
}

at::Tensor nf4_dequantize(const Nf4State& s, int64_t numel, int64_t blocksize, int64_t nested_blocksize) {
  const at::Tensor codes = nf4_unpack(s.packed, numel).to(at::kLong);
  const at::Tensor absmax = nf4_absmax(s, nested_blocksize).repeat_interleave(blocksize).narrow(0, 0, numel);
  return nf4_code_book().to(s.packed.device()).index_select(0, codes) * absmax;
}

}  // namespace lowbit
