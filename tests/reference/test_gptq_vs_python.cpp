// methods/common/gptq_solver against a plain PyTorch transcription of METHODS.md §5
// (make_gptq_cases.py): bits 2/3/4/8, groups 128/64 and per channel, symmetric, act-order, static
// groups, a block size other than 128, a dead input and an outlier. The transcription computes the
// factor of H⁻¹ as the reference code does; lowbit's `reference` route must reproduce it to 1e-5,
// its default `reversed` route must give the same factor (checked against float64) and results that
// differ only where a weight sits on a rounding boundary.
//
// Every solver test runs for both routes of gptq_solver.h on CPU: the row-tiled solver (Auto on CPU)
// and the ATen route that runs on GPUs (forced with GptqRoute::Aten), with the same assertions.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/model/safetensors.h"
#include "methods/common/gptq_solver.h"
#include "tests/support/case_tensors.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {


struct Case {
  const char* name;
  GptqOptions opt;
};

GptqOptions options(int bits, int64_t group, bool sym, bool act_order, bool static_groups, int64_t block) {
  GptqOptions o;
  o.quant = {bits, group, sym};
  o.act_order = act_order;
  o.static_groups = static_groups;
  o.block_size = block;
  o.factorization = GptqFactorization::Reference;
  return o;
}

const Case kCases[] = {
    {"w4_g128", options(4, 128, false, false, false, 128)},
    {"w3_g128", options(3, 128, false, false, false, 128)},
    {"w2_g128", options(2, 128, false, false, false, 128)},
    {"w4_perchannel", options(4, 0, false, false, false, 128)},
    {"w3_perchannel_sym", options(3, 0, true, false, false, 128)},
    {"w4_g64_block128", options(4, 64, false, false, false, 128)},
    {"w3_g128_actorder", options(3, 128, false, true, false, 128)},
    {"w4_g64_actorder_static", options(4, 64, false, true, true, 128)},
    {"w8_perchannel_block32", options(8, 0, false, false, false, 32)},
};

// tr(D H Dᵀ), D = Ŵ - W: the layer output error ‖(W - Ŵ) X‖² up to the factor 2/N.
double output_error(const at::Tensor& q, const at::Tensor& w, const at::Tensor& h) {
  return ((q - w).matmul(h) * (q - w)).sum().item<double>();
}

const char* route_name(GptqRoute route) { return route == GptqRoute::Auto ? "RowTiled" : "Aten"; }

}  // namespace

// How gtest prints the parameter (found by argument-dependent lookup, so in GptqRoute's namespace).
void PrintTo(GptqRoute route, std::ostream* os) { *os << route_name(route); }

namespace {

// The solver tests, once per route.
class GptqVsPython : public ::testing::TestWithParam<GptqRoute> {
 protected:
  GptqResult solve(const at::Tensor& w, const at::Tensor& h, GptqOptions o) const {
    o.route = GetParam();
    return gptq_quantize(w, h, o);
  }
};
class Gptq : public GptqVsPython {};

const auto kRouteName = [](const ::testing::TestParamInfo<GptqRoute>& info) { return route_name(info.param); };
INSTANTIATE_TEST_SUITE_P(GptqRoute, GptqVsPython, ::testing::Values(GptqRoute::Auto, GptqRoute::Aten), kRouteName);
INSTANTIATE_TEST_SUITE_P(GptqRoute, Gptq, ::testing::Values(GptqRoute::Auto, GptqRoute::Aten), kRouteName);

TEST_P(GptqVsPython, EveryCaseMatchesThePlainImplementationTo1e5) {
  const SafetensorsFile f(test::reference_dir() + "/gptq/cases.safetensors");
  const at::Tensor W = test::case_tensor(f, "W"), H = test::case_tensor(f, "H");
  int64_t differing_total = 0;
  for (const Case& c : kCases) {
    const GptqResult r = solve(W, H, c.opt);
    const at::Tensor expected = test::case_tensor(f, std::string(c.name) + ".weight");
    const double rel = (r.weight - expected).norm().item<double>() / expected.norm().item<double>();
    const int64_t differing = (r.weight != expected).sum().item<int64_t>();
    differing_total += differing;
    const at::Tensor colmask = (r.weight != expected).any(0);
    const int64_t first_col = differing ? colmask.nonzero()[0][0].item<int64_t>() : -1;
    EXPECT_LE(rel, 1e-5) << c.name << ": " << differing << " of " << expected.numel()
                         << " weights differ, the first in column " << first_col;
    const at::Tensor losses = test::case_tensor(f, std::string(c.name) + ".losses");
    EXPECT_LE((r.losses - losses).abs().max().item<double>(), 1e-5 * losses.abs().max().item<double>()) << c.name;
    // The codes and grids reproduce the dequantized weight.
    const at::Tensor idx = r.g_idx.to(at::kLong);
    const at::Tensor s = r.scale.index_select(1, idx), z = r.zero.index_select(1, idx);
    EXPECT_TRUE(at::allclose(s * (r.codes.to(at::kFloat) - z), r.weight, 0, 1e-7)) << c.name;
  }
  std::printf("%s solver, reference factorisation: %lld of %lld weights differ from the plain implementation\n",
              route_name(GetParam()), static_cast<long long>(differing_total),
              static_cast<long long>(W.numel() * std::size(kCases)));
}

TEST(GptqVsPython, BothFactorisationRoutesGiveTheFloat64Factor) {
  const SafetensorsFile f(test::reference_dir() + "/gptq/cases.safetensors");
  at::Tensor H = test::case_tensor(f, "H");
  H.diagonal().masked_fill_(H.diagonal() == 0, 1.0);
  H.diagonal().add_(H.diagonal().mean() * 0.01);
  const at::Tensor u64 = test::case_tensor(f, "U64");
  for (GptqFactorization route : {GptqFactorization::Reference, GptqFactorization::Reversed}) {
    const at::Tensor u = inverse_cholesky_upper(H, route);
    EXPECT_TRUE(at::equal(u, u.triu())) << "not upper triangular";
    EXPECT_LE((u - u64).norm().item<double>() / u64.norm().item<double>(), 1e-5)
        << (route == GptqFactorization::Reversed ? "reversed" : "reference");
  }
}

TEST_P(GptqVsPython, ReversedRouteDiffersOnlyAtRoundingBoundaries) {
  const SafetensorsFile f(test::reference_dir() + "/gptq/cases.safetensors");
  const at::Tensor W = test::case_tensor(f, "W"), H = test::case_tensor(f, "H");
  int64_t differing_total = 0;
  for (Case c : kCases) {
    c.opt.factorization = GptqFactorization::Reversed;
    const GptqResult r = solve(W, H, c.opt);
    const at::Tensor expected = test::case_tensor(f, std::string(c.name) + ".weight");
    const int64_t differing = (r.weight != expected).sum().item<int64_t>();
    differing_total += differing;
    // A flip moves one weight by one step and GPTQ's feedback re-balances the rest of its row. Per
    // channel the grid is fixed, so few weights change; with groups, the grids of the row's later
    // groups are fitted on the updated weights and all move a little. Either way the output error
    // the method minimises must stay put.
    if (c.opt.quant.group_size == 0) {
      EXPECT_LE(differing, expected.numel() / 100) << c.name;
    }
    const double e = output_error(r.weight, W, H), e_ref = output_error(expected, W, H);
    EXPECT_NEAR(e, e_ref, 0.01 * e_ref) << c.name;
  }
  std::printf("%s solver, reversed factorisation: %lld of %lld weights differ from the reference route\n",
              route_name(GetParam()), static_cast<long long>(differing_total),
              static_cast<long long>(W.numel() * std::size(kCases)));
}

TEST_P(Gptq, LowersTheLayerOutputErrorBelowRoundToNearest) {
  const SafetensorsFile f(test::reference_dir() + "/gptq/cases.safetensors");
  const at::Tensor W = test::case_tensor(f, "W"), H = test::case_tensor(f, "H");
  for (int bits : {2, 3, 4}) {
    const at::Tensor rtn = fake_quantize(W, {bits, 128, false});
    GptqOptions o = options(bits, 128, false, false, false, 128);
    o.factorization = GptqFactorization::Reversed;  // the default route
    EXPECT_LT(output_error(solve(W, H, o).weight, W, H), output_error(rtn, W, H)) << bits << " bits";
  }
}

TEST_P(Gptq, GroupThatDoesNotDivideTheInputIsRefused) {
  EXPECT_THROW(solve(at::zeros({4, 100}), at::eye(100), options(4, 128, false, false, false, 128)), Error);
}

// Every output of the two routes, compared exactly.
void expect_identical(const GptqResult& a, const GptqResult& b, const std::string& what) {
  EXPECT_TRUE(at::equal(a.weight, b.weight)) << what << ": weight, " << (a.weight != b.weight).sum().item<int64_t>()
                                             << " of " << a.weight.numel() << " differ";
  EXPECT_TRUE(at::equal(a.codes, b.codes)) << what << ": codes";
  EXPECT_TRUE(at::equal(a.scale, b.scale)) << what << ": scale";
  EXPECT_TRUE(at::equal(a.zero, b.zero)) << what << ": zero";
  EXPECT_TRUE(at::equal(a.g_idx, b.g_idx)) << what << ": g_idx";
  EXPECT_TRUE(at::equal(a.losses, b.losses)) << what << ": losses";
}

// Both routes run the same operations in the same order: on CPU they agree bit for bit, with either
// factorisation, in every case of the reference set and with a block size that neither divides the
// input nor is divided by the group (groups straddling blocks, a short last block).
TEST(GptqRoutes, AgreeBitForBitOnCpu) {
  const SafetensorsFile f(test::reference_dir() + "/gptq/cases.safetensors");
  const at::Tensor W = test::case_tensor(f, "W"), H = test::case_tensor(f, "H");
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  cases.push_back({"w4_g64_block96", options(4, 64, false, false, false, 96)});
  cases.push_back({"w3_g128_actorder_block96", options(3, 128, false, true, false, 96)});
  cases.push_back({"w4_g256_sym_block96", options(4, 256, true, false, false, 96)});
  for (Case c : cases)
    for (GptqFactorization factorization : {GptqFactorization::Reference, GptqFactorization::Reversed}) {
      c.opt.factorization = factorization;
      c.opt.route = GptqRoute::Auto;
      const GptqResult rows = gptq_quantize(W, H, c.opt);
      c.opt.route = GptqRoute::Aten;
      const GptqResult aten = gptq_quantize(W, H, c.opt);
      const bool reversed = factorization == GptqFactorization::Reversed;
      expect_identical(rows, aten, std::string(c.name) + (reversed ? " reversed" : " reference"));
    }
}

// The figure the device check holds a GPU run to (≥ 99.9 % identical codes), on a layer of a
// larger layer and the default options: 512 x 1024, W4 g128, reversed factorisation.
TEST(GptqRoutes, AgreeOnAtLeast999PermilleOfTheCodesOfALargerLayer) {
  at::manual_seed(7);
  const int64_t rows = 512, cols = 1024, tokens = 2048;
  const at::Tensor W = at::randn({rows, cols}) * 0.02;  // [rows, cols]
  // Correlated input channels through a shared low-rank component: [tokens, cols].
  const at::Tensor X = at::randn({tokens, cols}) + at::randn({tokens, 32}).matmul(at::randn({32, cols})) * 0.3;
  const at::Tensor H = X.t().matmul(X) * (2.0 / tokens);  // [cols, cols]
  GptqOptions o;  // the defaults: W4 g128, block 128, reversed factorisation
  const GptqResult rows_route = gptq_quantize(W, H, o);
  o.route = GptqRoute::Aten;
  const GptqResult aten_route = gptq_quantize(W, H, o);
  const int64_t same = (rows_route.codes == aten_route.codes).sum().item<int64_t>();
  std::printf("ATen route: %lld of %lld codes identical to the row-tiled solver's\n", static_cast<long long>(same),
              static_cast<long long>(W.numel()));
  EXPECT_GE(static_cast<double>(same), 0.999 * static_cast<double>(W.numel()));
}

TEST(GptqRoutes, WAndHOnDifferentDevicesAreRefused) {
  // A meta tensor stands in for a second device, which this machine may not have.
  EXPECT_THROW(gptq_quantize(at::zeros({4, 8}), at::eye(8, at::TensorOptions().device(at::kMeta)), GptqOptions{}),
               Error);
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// The hint names the config key that exists (method.damp), not the reference code's variable.
TEST(GptqErrors, NonPositiveDefiniteHessianNamesTheRealKey) {
  const at::Tensor w = at::ones({4, 8}), h = -at::eye(8);  // damping cannot rescue a negative diagonal
  for (GptqRoute route : {GptqRoute::Auto, GptqRoute::Aten}) {
    GptqOptions o;
    o.quant = {4, 0, false};
    o.route = route;
    try {
      gptq_quantize(w, h, o);
      ADD_FAILURE() << "no error for a negative definite Hessian";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("method.damp"), std::string::npos) << msg;
      EXPECT_EQ(msg.find("percdamp"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace lowbit
