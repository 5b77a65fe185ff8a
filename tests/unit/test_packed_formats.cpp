// The packed checkpoint layouts at the bit level, against the formats' written definitions (words
// built here by a scalar loop over the bit stream, not by the code under test): GPTQ's dense stream
// (3-bit values straddling words), AWQ's nibble order, v1's zero - 1; every format's pack -> unpack
// returns the artifact with its scales rounded; refusals name the problem. Their agreement with the
// formats' own packages is tests/reference/check_packed_exports.py.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <vector>

#include "framework/export/bit_packing.h"
#include "framework/export/packed_formats.h"
#include "methods/common/artifact_formats.h"
#include "tests/support/expect_error.h"

namespace lowbit {
namespace {

// The words of a row's little-endian bit stream, one bit at a time.
std::vector<uint32_t> scalar_stream(const std::vector<int>& values, int bits) {
  std::vector<uint32_t> words((values.size() * bits + 31) / 32, 0);
  for (std::size_t j = 0; j < values.size(); ++j)
    for (int k = 0; k < bits; ++k)
      if ((values[j] >> k) & 1) {
        const std::size_t bit = j * bits + k;
        words[bit / 32] |= uint32_t{1} << (bit % 32);
      }
  return words;
}

TEST(BitPacking, FourBitValuesAreLittleEndianNibbles) {
  const at::Tensor v = at::arange(8, at::kInt).unsqueeze(0);
  EXPECT_EQ(static_cast<uint32_t>(pack_bits(v, 4).item<int32_t>()), 0x76543210u);
}

TEST(BitPacking, EveryWidthIsTheDenseStreamAndUnpacksBack) {
  at::manual_seed(3);
  for (int bits = 1; bits <= 8; ++bits)
    for (int64_t n : {64, 37, 96}) {
      const at::Tensor v = at::randint(0, 1 << bits, {5, n}, at::kLong);
      const at::Tensor packed = pack_bits(v, bits);
      ASSERT_EQ(packed.size(1), (n * bits + 31) / 32);
      for (int64_t r = 0; r < 5; ++r) {
        std::vector<int> row(v[r].data_ptr<int64_t>(), v[r].data_ptr<int64_t>() + n);
        const std::vector<uint32_t> want = scalar_stream(row, bits);
        for (std::size_t w = 0; w < want.size(); ++w)
          ASSERT_EQ(static_cast<uint32_t>(packed[r][static_cast<int64_t>(w)].item<int32_t>()), want[w])
              << bits << "-bit, n " << n << ", row " << r << ", word " << w;
      }
      EXPECT_TRUE(at::equal(unpack_bits(packed, bits, n).to(at::kLong), v)) << bits << "-bit, n " << n;
    }
}

// A uniform artifact [out, in] with codes, zeros and scales chosen by the caller's functions.
QuantizedLinear artifact(int64_t out, int64_t in, int bits, int64_t group_size, bool symmetric, at::Tensor zero,
                         at::Tensor g_idx = {}) {
  at::manual_seed(11);
  const int64_t groups = group_size == 0 ? 1 : in / group_size;
  const at::Tensor codes = at::randint(0, 1 << bits, {out, in}, at::kByte);
  const at::Tensor scale = at::rand({out, groups}, at::kFloat) * 0.01 + 1e-3;
  if (!g_idx.defined())
    g_idx = group_size == 0 ? at::zeros({in}, at::kInt) : at::div(at::arange(in, at::kInt), group_size, "floor");
  return uniform_linear(codes, scale, zero, g_idx, bits, group_size, symmetric, "test");
}

std::map<std::string, at::Tensor> pack(const std::string& format, const QuantizedLinear& q, bool v2 = false) {
  const PackedFormat& f = *find_packed_format(format);
  PackedScheme s = scheme_of(q, format);
  s.gptq_v2 = v2;
  EXPECT_EQ(packed_refusal(f, q, s), "");
  std::map<std::string, at::Tensor> out;
  for (auto& [name, t] : f.pack(q, s)) out[name] = t;
  return out;
}

TEST(PackedFormats, AwqInterleavesEightColumnsPerWord) {
  // Row o of every group holds code o: word c of input row i is columns 8c..8c+7 in AWQ's order.
  QuantizedLinear q = artifact(8, 16, 4, 8, false, at::full({8, 2}, 3.0));
  q.tensors["codes"] = at::arange(8, at::kByte).unsqueeze(1).expand({8, 16}).contiguous();
  finish_artifact(q, "test");
  const auto t = pack("awq", q);
  ASSERT_EQ(t.at("qweight").sizes(), (std::vector<int64_t>{16, 1}));
  const uint32_t expected = 0 | 2u << 4 | 4u << 8 | 6u << 12 | 1u << 16 | 3u << 20 | 5u << 24 | 7u << 28;
  for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(static_cast<uint32_t>(t.at("qweight")[i][0].item<int32_t>()), expected);
  EXPECT_EQ(static_cast<uint32_t>(t.at("qzeros")[0][0].item<int32_t>()), 0x33333333u);  // raw zeros
}

TEST(PackedFormats, GptqV1StoresZeroMinusOneAndV2TheZero) {
  const QuantizedLinear q = artifact(8, 32, 4, 16, false, at::full({8, 2}, 5.0));
  EXPECT_EQ(static_cast<uint32_t>(pack("gptq", q).at("qzeros")[0][0].item<int32_t>()), 0x44444444u);
  EXPECT_EQ(static_cast<uint32_t>(pack("gptq", q, true).at("qzeros")[0][0].item<int32_t>()), 0x55555555u);
  // qweight is [in * bits / 32, out]: column o holds row o's codes along the input.
  const auto t = pack("gptq", q);
  ASSERT_EQ(t.at("qweight").sizes(), (std::vector<int64_t>{4, 8}));
  std::vector<int> row0;
  for (int64_t i = 0; i < 8; ++i) row0.push_back(q.tensors.at("codes")[0][i].item<int>());
  EXPECT_EQ(static_cast<uint32_t>(t.at("qweight")[0][0].item<int32_t>()), scalar_stream(row0, 4)[0]);
}

TEST(PackedFormats, EveryFormatUnpacksWhatItPacked) {
  struct Case {
    const char* format;
    int bits;
    int64_t group_size;
    bool symmetric, v2;
  };
  for (const Case& c : {Case{"gptq", 3, 32, false, true}, Case{"gptq", 2, 0, false, true}, Case{"gptq", 8, 32, true, false},
                        Case{"gptq", 4, 32, false, false}, Case{"awq", 4, 32, false, false},
                        Case{"compressed-tensors", 4, 32, false, false}, Case{"compressed-tensors", 8, 0, true, false}}) {
    const int64_t out = 64, in = 128, groups = c.group_size == 0 ? 1 : in / c.group_size;
    const int mid = 1 << (c.bits - 1);
    const at::Tensor zero = c.symmetric ? at::full({out, groups}, static_cast<double>(mid))
                                        : at::randint(1, 1 << c.bits, {out, groups}, at::kFloat);
    const QuantizedLinear q = artifact(out, in, c.bits, c.group_size, c.symmetric, zero);
    const PackedFormat& f = *find_packed_format(c.format);
    PackedScheme s = scheme_of(q, c.format);
    s.gptq_v2 = c.v2;
    ASSERT_EQ(s.symmetric, c.symmetric);
    std::map<std::string, at::Tensor> t;
    for (auto& [name, tensor] : f.pack(q, s)) t[name] = tensor;
    for (const auto& l : f.layout(s, out, in)) {
      ASSERT_TRUE(t.count(l.suffix)) << c.format << ": no " << l.suffix;
      EXPECT_EQ(t.at(l.suffix).sizes().vec(), l.shape) << c.format << " " << l.suffix;
    }
    EXPECT_EQ(t.size(), f.layout(s, out, in).size()) << c.format;
    const QuantizedLinear back = f.unpack([&](const std::string& suffix) { return t.at(suffix); }, s, out, in, "test");
    const std::string what = std::string(c.format) + " " + std::to_string(c.bits) + "-bit";
    EXPECT_TRUE(at::equal(back.tensors.at("codes"), q.tensors.at("codes"))) << what;
    EXPECT_TRUE(at::equal(back.tensors.at("zero"), q.tensors.at("zero"))) << what;
    EXPECT_TRUE(at::equal(back.tensors.at("g_idx"), q.tensors.at("g_idx"))) << what;
    EXPECT_TRUE(at::equal(back.tensors.at("scale"), q.tensors.at("scale").to(at::kHalf).to(at::kFloat))) << what;
  }
}

TEST(PackedFormats, RefusalsSayWhatTheFormatCannotHold) {
  const PackedFormat& gptq = *find_packed_format("gptq");
  const PackedFormat& awq = *find_packed_format("awq");
  const PackedFormat& ct = *find_packed_format("compressed-tensors");
  // A zero point 0 has no v1 encoding.
  at::Tensor zero = at::full({8, 2}, 3.0);
  zero[0][0] = 0;
  const QuantizedLinear q0 = artifact(8, 32, 4, 16, false, zero);
  EXPECT_NE(packed_refusal(gptq, q0, scheme_of(q0, "gptq")).find("zero point 0"), std::string::npos);
  PackedScheme v2 = scheme_of(q0, "gptq");
  v2.gptq_v2 = true;
  EXPECT_EQ(packed_refusal(gptq, q0, v2), "");
  // Act-order (permuted g_idx): GPTQ stores it, AWQ and compressed-tensors cannot.
  const at::Tensor permuted = at::div(at::arange(32, at::kInt), 16, "floor").flip(0).contiguous();
  const QuantizedLinear qa = artifact(8, 32, 4, 16, false, at::full({8, 2}, 3.0), permuted);
  EXPECT_TRUE(scheme_of(qa, "gptq").desc_act);
  EXPECT_NE(packed_refusal(awq, qa, scheme_of(qa, "awq")).find("act-order"), std::string::npos);
  EXPECT_NE(packed_refusal(ct, qa, scheme_of(qa, "compressed-tensors")).find("act-order"), std::string::npos);
  // Widths.
  const QuantizedLinear q3 = artifact(32, 32, 3, 16, false, at::full({32, 2}, 3.0));
  EXPECT_NE(packed_refusal(awq, q3, scheme_of(q3, "awq")).find("4-bit"), std::string::npos);
  EXPECT_NE(packed_refusal(ct, q3, scheme_of(q3, "compressed-tensors")).find("4 or 8 bits"), std::string::npos);
  // A linear unlike the checkpoint's first.
  PackedScheme other = scheme_of(q0, "gptq");
  other.bits = 8;
  EXPECT_NE(packed_refusal(gptq, q0, other).find("one setting"), std::string::npos);
  // A scale fp16 cannot hold.
  QuantizedLinear big = artifact(8, 32, 4, 16, false, at::full({8, 2}, 3.0));
  big.tensors["scale"][0][0] = 1e6;
  EXPECT_LOWBIT_ERROR(gptq.pack(big, scheme_of(big, "gptq")), {"scales", "overflow"});
}

}  // namespace
}  // namespace lowbit
