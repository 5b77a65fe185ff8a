// SliM-LLM (METHODS.md §11; Aaronhuang-778/SliM-LLM slim-llm/: SliMGPTQ.get_salience / get_block /
// fasterquant, utils/bitsearch, utils/mixed_quantizer.Quantizer, utils/salient_mask, utils/reconstruct).
// Per block: the Hessians (one pass); per linear H' = H with dead inputs' diagonal 1 and + 0.01·I
// (get_salience, in place in the reference, so fasterquant runs on H' too and its own dead fix finds
// nothing: W's dead columns are not zeroed); the group salience Σ W² / U'_jj² per 128-column group;
// a second pass over the calibration samples scoring each candidate count k by the KL divergence of
// the linear's output (SlimCountSearch); then GPTQ's loop (intra-block and lazy updates, blocks =
// groups) with the widths of k* = argmin of the mean error + 1, each group's quantizer fitted on the
// group's current weights at its width: 1 bit, sign(w − μ)·α + μ with μ = mean w, α = mean |w|
// per row; 2+ bits, per-row asymmetric min-max followed by a range search over 101 shrink/stretch
// factors minimising Σ |Q(w) − w|^2.4 (salient elements, those whose w² / U_jj² reaches the
// smallest |z| > 2 outlier of the group, weighted by lambda_salience).
#include "methods/slim_llm.h"

#include <ATen/ATen.h>
#include <ATen/core/Reduction.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "framework/calibrate/block_context.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/error_feedback.h"
#include "methods/common/gptq_solver_detail.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit {
namespace {

// Σ over each group of w² / u_jj², as float64 (the reference's .item() of an fp32 sum).
std::vector<double> group_salience(const at::Tensor& w, const at::Tensor& u, int64_t g) {
  std::vector<at::Tensor> sums;
  for (int64_t s = 0; s < w.size(1); s += g)
    sums.push_back((w.narrow(1, s, g).pow(2) / u.diagonal().narrow(0, s, g).view({1, -1}).pow(2)).sum());
  const at::Tensor v = at::stack(sums).to(at::kDouble).cpu();
  return std::vector<double>(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
}

// Groups in ascending salience (NumPy's argsort; salience ties do not occur in practice).
std::vector<int64_t> ascending(const std::vector<double>& salience) {
  std::vector<int64_t> order(salience.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return salience[a] < salience[b]; });
  return order;
}

// Widths: the `count` least salient groups at b-1, the `count` most salient at b+1, others b.
std::vector<int> widths_for(const std::vector<double>& salience, int64_t count, int bits) {
  const std::vector<int64_t> order = ascending(salience);
  std::vector<int> w(salience.size(), bits);
  const int64_t n = static_cast<int64_t>(order.size());
  for (int64_t i = 0; i < count; ++i) w[order[i]] = bits - 1;
  for (int64_t i = 0; i < count; ++i) w[order[n - 1 - i]] = bits + 1;
  return w;
}

// bitsearch.block_quantize: a group x [rows, g] of the full-precision W at `bits`, plainly.
at::Tensor plain_group_quantize(const at::Tensor& x, int bits) {
  if (bits == 1) {
    const at::Tensor mu = x.mean(1).unsqueeze(1), alpha = x.abs().mean(1).unsqueeze(1);
    return (x - mu).sign() * alpha + mu;
  }
  const QuantGrid grid = minmax_grid(x, bits, /*symmetric=*/false);
  return dequantize_codes(quantize_codes(x, grid), grid);
}

// The mixed quantizer of one group (mixed_quantizer.Quantizer.fit / quantize).
struct GroupQuantizer {
  int bits = 0;
  at::Tensor scale, zero;  // [rows]: b >= 2 scale and zero point; b = 1 α and μ
  double maxq = 0;

  // w [rows, g] the group's current weights, pivot [g] its U_jj; `symmetric`: the reference's
  // quantizer still in its constructed sym=True state (zero at (maxq + 1) / 2, range not symmetrized).
  void fit(const at::Tensor& w, const at::Tensor& pivot, int b, bool symmetric, double norm, double lambda) {
    bits = b;
    if (b == 1) {
      scale = w.abs().mean(1);
      zero = w.mean(1);
      return;
    }
    maxq = std::pow(2.0, b) - 1;
    // maxq as a tensor on w's device, as the reference holds it: CUDA divides by a host scalar as a
    // multiplication by its reciprocal (another rounding), by a device tensor truly.
    const at::Tensor maxq_t = at::scalar_tensor(maxq, w.options());
    // Salient elements: sensitivity at least the smallest |z-score| > 2 outlier of the group. A
    // group without one (constant sensitivity, e.g. all inputs dead) stops the reference (torch.min
    // of nothing); lowbit treats every element as plain (with lambda_salience 1 the split is moot).
    const at::Tensor sens = w.pow(2) / pivot.view({1, -1}).pow(2);
    const at::Tensor z = (sens - sens.mean()) / sens.std();
    const at::Tensor outliers = sens.masked_select(z.abs() > 2);
    const at::Tensor salient = outliers.numel() > 0 ? sens >= outliers.min() : at::zeros_like(sens, at::kBool);
    const at::Tensor plain = salient.logical_not();
    const at::Tensor zeros = at::zeros({w.size(0)}, w.options());
    at::Tensor xmin = at::minimum(std::get<0>(w.min(1)), zeros), xmax = at::maximum(std::get<0>(w.max(1)), zeros);
    const at::Tensor both_zero = (xmin == 0).logical_and(xmax == 0);
    xmin = at::where(both_zero, at::full_like(xmin, -1), xmin);
    xmax = at::where(both_zero, at::full_like(xmax, 1), xmax);
    scale = (xmax - xmin) / maxq_t;
    zero = symmetric ? at::full_like(scale, (maxq + 1) / 2) : at::round(-xmin / scale);
    at::Tensor best = at::full({w.size(0)}, std::numeric_limits<float>::infinity(), w.options());
    const at::TensorOptions cpu = at::TensorOptions().dtype(at::kFloat);
    const at::Tensor factors = at::cat({at::ones({1}, cpu), at::linspace(1.0, 1.1, 51, cpu).narrow(0, 1, 50),
                                        at::linspace(1.0, 0.9, 51, cpu).narrow(0, 1, 50)}).to(w.device());
    const at::Tensor nan = at::full({}, std::numeric_limits<float>::quiet_NaN(), w.options());
    for (int64_t i = 0; i < factors.size(0); ++i) {
      const at::Tensor p = factors.select(0, i);
      const at::Tensor xmin1 = p * xmin, xmax1 = p * xmax;
      const at::Tensor scale1 = (xmax1 - xmin1) / maxq_t;
      const at::Tensor zero1 = symmetric ? zero : at::round(-xmin1 / scale1);
      const at::Tensor s1 = scale1.unsqueeze(1), z1 = zero1.unsqueeze(1);
      const at::Tensor wq = s1 * (at::clamp(at::round(w / s1) + z1, 0, maxq) - z1);
      // |Q(w) − w|^norm once (the reference forms it twice, NaN-masked per part: the same values),
      // then summed per row over each part.
      const at::Tensor e = (wq - w).abs().pow(norm);
      const at::Tensor e_plain = at::nansum(at::where(plain, e, nan), 1);
      const at::Tensor e_salient = at::nansum(at::where(salient, e, nan), 1);
      const at::Tensor err = e_plain + lambda * e_salient;
      const at::Tensor better = err < best;
      best = at::where(better, err, best);
      scale = at::where(better, scale1, scale);
      zero = at::where(better, zero1, zero);
    }
  }

  // A column w [rows] -> dequantized values into out, its codes into code (u8 [rows]).
  void quantize(const at::Tensor& w, at::Tensor& out, at::Tensor code) const {
    if (bits == 1) {
      const at::Tensor s = (w - zero).sign();
      out.copy_(s * scale + zero);
      code.copy_(s + 1);
      return;
    }
    const at::Tensor q = at::clamp(at::round(w / scale) + zero, 0, maxq);
    out.copy_(scale * (q - zero));
    code.copy_(q);
  }
};

class MixedGroupQuantizer : public ArtifactColumnQuantizer {
 public:
  MixedGroupQuantizer(const SlimLlmOptions& o, int64_t count, const std::vector<int>* bit_map)
      : o_(o), count_(count), bit_map_(bit_map) {}

  void prepare(const at::Tensor&, const at::Tensor& w, const at::Tensor&, const at::Tensor& u) override {
    const int64_t rows = w.size(0), cols = w.size(1), groups = cols / o_.group_size;
    widths_ = bit_map_ ? *bit_map_ : widths_for(group_salience(w, u, o_.group_size), count_, o_.bits);
    LOWBIT_CHECK(static_cast<int64_t>(widths_.size()) == groups, "slim-llm: a bit map of ", widths_.size(),
                 " groups for ", groups);
    symmetric_ = bit_map_ == nullptr;  // the saved-map path sets sym=False for every group
    pivot_ = u.diagonal();
    codes_ = at::zeros({rows, cols}, w.options().dtype(at::kByte));
    scale_ = at::zeros({rows, groups}, w.options());
    zero_ = at::zeros({rows, groups}, w.options());
  }

  void begin_block(const at::Tensor& w, int64_t i1, int64_t i2) override {
    const int64_t g = i1 / o_.group_size;
    if (widths_[g] != o_.bits - 1) symmetric_ = false;  // set on the first b or b+1 group, for good
    q_.fit(w.narrow(1, i1, i2 - i1), pivot_.narrow(0, i1, i2 - i1), widths_[g], symmetric_, o_.norm, o_.lambda_salience);
    scale_.select(1, g).copy_(q_.scale);
    zero_.select(1, g).copy_(q_.zero);
  }

  void quantize_column(const at::Tensor& w, int64_t c, at::Tensor& out) override { q_.quantize(w, out, codes_.select(1, c)); }

  QuantizedLinear artifact(const std::string& where) const override {
    QuantizedLinear q;
    q.format = "mixed_uniform";
    q.bits = o_.bits;
    q.group_size = o_.group_size;
    std::vector<int64_t> widths(widths_.begin(), widths_.end());
    q.tensors = {{"codes", codes_},
                 {"scale", scale_},
                 {"zero", zero_},
                 {"group_bits", at::tensor(widths).to(at::kByte).to(codes_.device())},
                 {"g_idx", at::div(at::arange(codes_.size(1), codes_.options().dtype(at::kInt)), o_.group_size, "floor")}};
    finish_artifact(q, where);
    return q;
  }

 private:
  SlimLlmOptions o_;
  int64_t count_;
  const std::vector<int>* bit_map_;
  std::vector<int> widths_;
  bool symmetric_ = true;
  at::Tensor pivot_, codes_, scale_, zero_;
  GroupQuantizer q_;
};

class SlimLlm : public Method {
 public:
  SlimLlm(SlimLlmOptions o, SlimBitMap map, std::string map_path)
      : o_(o), map_(std::move(map)), map_path_(std::move(map_path)) {}
  void check_model(const LlamaConfig& c, const std::string& where) const override {
    check_group_size_divides(o_.group_size, c, where);
    if (o_.fixed_count > 0)
      for (const BlockLinear& l : block_linears()) {
        const int64_t groups = linear_input_size(c, l.input) / o_.group_size;
        LOWBIT_CHECK(2 * o_.fixed_count <= groups, where, ": key 'method.fixed_count': ", o_.fixed_count,
                     " groups at b-1 and as many at b+1 do not fit in ", l.module, "'s ", groups, " groups");
      }
    if (map_path_.empty()) return;
    for (int64_t b = 0; b < c.num_hidden_layers; ++b)  // the whole map, before anything runs
      for (const BlockLinear& l : block_linears()) {
        const std::string at = map_path_ + ": block " + std::to_string(b) + " " + l.module;
        LOWBIT_CHECK(map_.count(b) && map_.at(b).count(l.module), at, ": not in the bit map");
        const int64_t groups = linear_input_size(c, l.input) / o_.group_size;
        LOWBIT_CHECK(static_cast<int64_t>(map_.at(b).at(l.module).size()) == groups, at, ": ",
                     map_.at(b).at(l.module).size(), " widths for ", groups, " groups of ", o_.group_size, " columns");
      }
  }
  MethodNeeds needs() const override {
    MethodNeeds n;
    n.statistics = {Statistic::Hessian};
    return n;
  }

  QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const override {
    std::vector<const BlockLinear*> linears;
    for (const BlockLinear& l : block_linears())
      if (which.contains(l)) linears.push_back(&l);
    std::map<std::string, at::Tensor> hessians;  // the H each linear's loop runs on
    std::map<std::string, int64_t> counts;
    if (!map_path_.empty()) {  // the saved-map path: no salience H', no search, always asymmetric
      QuantizedBlock out;
      for (const BlockLinear* l : linears) {
        const std::vector<int>& widths = map_.at(ctx.index()).at(l->module);  // checked by check_model
        out.linears.emplace(l->module, slim_llm_quantize(ctx.weights().*l->weight, ctx.statistics().get(Statistic::Hessian, l->input),
                                                         o_, 0, std::string("slim-llm: ") + l->module, &widths));
      }
      return out;
    }
    if (o_.fixed_count >= 0) {
      for (const BlockLinear* l : linears) {
        hessians[l->module] = ctx.statistics().get(Statistic::Hessian, l->input);
        counts[l->module] = o_.fixed_count;
      }
    } else {
      // The second pass: every sample's linear inputs streamed once, scored for every linear (fp32).
      std::map<std::string, SlimCountSearch> searches;
      for (const BlockLinear* l : linears) {
        hessians[l->module] = slim_salience_hessian(ctx.statistics().get(Statistic::Hessian, l->input));
        searches.emplace(l->module, SlimCountSearch(ctx.weights().*l->weight, hessians[l->module], o_));
      }
      ctx.for_each_linear_input([&](int64_t, LinearInput kind, const at::Tensor& x) {
        for (const BlockLinear* l : linears) {
          SlimCountSearch& search = searches.at(l->module);
          if (l->input != kind || search.candidates() == 0) continue;
          for (int64_t s = 0; s < x.size(0); ++s) {  // one sample at a time, as the reference's hook sees them
            const at::Tensor xs = x.select(0, s).to(at::kFloat);  // [tokens, in]
            search.add_sample(xs, at::matmul(xs, search.weight().t()));
          }
        }
      });
      for (const BlockLinear* l : linears) counts[l->module] = searches.at(l->module).best_count();
    }
    QuantizedBlock out;
    for (const BlockLinear* l : linears)
      out.linears.emplace(l->module, slim_llm_quantize(ctx.weights().*l->weight, hessians.at(l->module), o_,
                                                       counts.at(l->module), std::string("slim-llm: ") + l->module));
    return out;
  }

 private:
  SlimLlmOptions o_;
  SlimBitMap map_;
  std::string map_path_;  // empty: widths from the count
};

}  // namespace

SlimBitMap read_slim_bit_map(const std::string& path, int bits) {
  const nlohmann::json j = parse_json_object(read_file(path), path);
  SlimBitMap map;
  for (const auto& [block, linears] : j.items()) {
    int64_t b = -1;
    try {
      std::size_t used = 0;
      b = std::stoll(block, &used);
      if (used != block.size()) b = -1;
    } catch (const std::exception&) {
    }
    LOWBIT_CHECK(b >= 0 && linears.is_object(), path, ": key '", block,
                 "' should be a block index holding {linear: [widths]}");
    for (const auto& [linear, widths] : linears.items()) {
      const std::string where = path + ": " + block + "." + linear;
      LOWBIT_CHECK(widths.is_array() && !widths.empty(), where, ": should be a list of group widths");
      std::vector<int> w;
      for (const auto& x : widths) {
        LOWBIT_CHECK(x.is_number_integer() && x.get<int>() >= 1 && x.get<int>() <= 8, where, ": width ", x.dump(),
                     " is not an integer in 1..8");
        w.push_back(x.get<int>());
      }
      const int64_t sum = std::accumulate(w.begin(), w.end(), int64_t{0});
      LOWBIT_CHECK(sum == static_cast<int64_t>(bits) * static_cast<int64_t>(w.size()), where, ": widths average ",
                   static_cast<double>(sum) / w.size(), ", not method.bits ", bits, " (a map of another bit width?)");
      map[b][linear] = std::move(w);
    }
  }
  LOWBIT_CHECK(!map.empty(), path, ": an empty bit map");
  return map;
}

at::Tensor slim_salience_hessian(const at::Tensor& h) {
  at::Tensor H = h.to(at::kFloat).clone();
  const at::Tensor dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1);
  H.diagonal().add_(0.01);
  return H;
}

SlimCountSearch::SlimCountSearch(const at::Tensor& w, const at::Tensor& h_salience, const SlimLlmOptions& o)
    : w_(w.to(at::kFloat)), group_size_(o.group_size) {
  const int64_t groups = w_.size(1) / group_size_;
  at::Tensor H = h_salience.to(at::kFloat).clone();  // get_salience factors H' as it is: no further damping
  const at::Tensor U = gptq_detail::damped_inverse_factor(H, 0.0, GptqFactorization::Reference);
  order_ = ascending(group_salience(w_, U, group_size_));
  std::vector<at::Tensor> at_b;
  for (int64_t g = 0; g < groups; ++g) at_b.push_back(plain_group_quantize(w_.narrow(1, g * group_size_, group_size_), o.bits));
  at_b_ = at::cat(at_b, 1);
  for (int64_t k = 1; k < groups / 2; ++k) {  // candidate k moves one more group down and one more up
    const int64_t lo = order_[k - 1], hi = order_[groups - k];
    low_.push_back(plain_group_quantize(w_.narrow(1, lo * group_size_, group_size_), o.bits - 1));
    high_.push_back(plain_group_quantize(w_.narrow(1, hi * group_size_, group_size_), o.bits + 1));
  }
}

void SlimCountSearch::add_sample(const at::Tensor& x, const at::Tensor& y) {
  if (candidates() == 0) {
    errors_.emplace_back();
    return;
  }
  const int64_t groups = at_b_.size(1) / group_size_;
  at::Tensor wk = at_b_.clone();  // [out, in] every group at b, then candidate by candidate
  const at::Tensor target = at::softmax(y, -1).clamp_min(1e-6).log().unsqueeze(0);  // [1, tokens, out]
  std::vector<at::Tensor> errs;
  for (int64_t k = 1; k <= candidates(); ++k) {
    wk.narrow(1, order_[k - 1] * group_size_, group_size_).copy_(low_[k - 1]);
    wk.narrow(1, order_[groups - k] * group_size_, group_size_).copy_(high_[k - 1]);
    const at::Tensor p = at::softmax(at::matmul(x, wk.t()), -1).clamp_min(1e-6);  // [tokens, out]
    errs.push_back(at::kl_div(target, p, at::Reduction::Sum, false) / 1);          // 'batchmean' over a batch of 1
  }
  const at::Tensor e = at::stack(errs).to(at::kDouble).cpu();
  errors_.emplace_back(e.data_ptr<double>(), e.data_ptr<double>() + e.numel());
}

int64_t SlimCountSearch::best_count() const {
  if (candidates() == 0 || errors_.empty()) return 0;
  std::vector<double> mean(candidates());
  for (int64_t k = 0; k < candidates(); ++k) {
    std::vector<double> column;
    for (const auto& e : errors_) column.push_back(e[k]);
    mean[k] = numpy_mean(column);
  }
  return std::min_element(mean.begin(), mean.end()) - mean.begin() + 1;  // the first minimum
}

namespace {
// NumPy's pairwise_sum for float64 (numpy/_core/src/umath/loops_utils.h.src): sequential under 8
// values, eight accumulators up to 128, halves (at a multiple of 8) above.
double pairwise_sum(const double* a, int64_t n) {
  if (n < 8) {
    double r = 0.;
    for (int64_t i = 0; i < n; ++i) r += a[i];
    return r;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}
}  // namespace

double numpy_mean(const std::vector<double>& v) {
  LOWBIT_ASSERT(!v.empty(), "numpy_mean of nothing");
  return pairwise_sum(v.data(), static_cast<int64_t>(v.size())) / static_cast<double>(v.size());
}

QuantizedLinear slim_llm_quantize(const at::Tensor& w, const at::Tensor& h, const SlimLlmOptions& o, int64_t count,
                                  const std::string& where, const std::vector<int>* bit_map) {
  LOWBIT_CHECK(w.dim() == 2 && w.size(1) % o.group_size == 0, where, ": SliM-LLM needs whole groups of ",
               o.group_size, " columns; the weight is ", w.sizes());
  const int64_t groups = w.size(1) / o.group_size;
  LOWBIT_CHECK(count >= 0 && 2 * count <= groups, where, ": ", count, " groups at b-1 and at b+1 do not fit in ",
               groups, " groups");
  MixedGroupQuantizer q(o, count, bit_map);
  return error_feedback_artifact(w, h, q, reference_loop(o.percdamp, o.group_size), where);
}

void register_slim_llm(MethodRegistry& r) {
  r.add({"slim-llm",
         "SliM-LLM: per-group mixed widths (b-1, b, b+1 at average b) by salience and a KL count search, GPTQ's "
         "loop with a range-searched group quantizer",
         "bits (2; 2..7), group_size (128), damp (0.01), norm (2.4), lambda_salience (1), "
         "fixed_count (-1 = search; k: k groups at b-1 and k at b+1), bit_map (a JSON file of widths per "
         "block and linear: no search; launch/slim_llm_bit_map.py converts the reference's .pt)",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           SlimLlmOptions o;
           o.bits = p.get<int>("bits", 2);
           o.group_size = p.get<int64_t>("group_size", 128);
           o.percdamp = p.get<double>("damp", 0.01);
           o.norm = p.get<double>("norm", 2.4);
           o.lambda_salience = p.get<double>("lambda_salience", 1.0);
           o.fixed_count = p.get<int64_t>("fixed_count", -1);
           const std::string map_path = p.get<std::string>("bit_map", "");
           p.finish();
           LOWBIT_CHECK(o.bits >= 2 && o.bits <= 7, p.file(), ": method.bits must be in [2, 7] (groups at bits + 1 "
                        "are stored one code per byte), got ", o.bits);
           LOWBIT_CHECK(o.group_size >= 1, p.file(), ": method.group_size must be >= 1 (SliM-LLM's widths are per group)");
           LOWBIT_CHECK(o.percdamp >= 0 && o.norm > 0 && o.lambda_salience >= 0, p.file(),
                        ": method.damp >= 0, method.norm > 0 and method.lambda_salience >= 0");
           LOWBIT_CHECK(o.fixed_count == -1 || o.fixed_count >= 1, p.file(), ": method.fixed_count must be -1 (search) "
                        "or >= 1, got ", o.fixed_count, " (the reference's argsort()[-0:] would put every group at b+1)");
           LOWBIT_CHECK(map_path.empty() || o.fixed_count == -1, p.file(),
                        ": method.bit_map and method.fixed_count both set the widths; give one");
           SlimBitMap map = map_path.empty() ? SlimBitMap{} : read_slim_bit_map(map_path, o.bits);
           return std::make_unique<SlimLlm>(o, std::move(map), map_path);
         }});
}

}  // namespace lowbit
