#include "methods/awq.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/uniform_quantizer.h"

namespace lowbit {
namespace {

UniformQuantSpec awq_spec(const AwqOptions& o) {
  UniformQuantSpec s;
  s.bits = o.bits;
  s.group_size = o.group_size;
  s.rule = GridRule::AwqMinMax;
  return s;
}


at::Tensor BlockWeights::*field_of(const std::string& module) {
  for (const BlockLinear& l : block_linears())
    if (module == l.module) return l.weight;
  LOWBIT_ASSERT(false, "awq: no linear ", module);
  return nullptr;
}

// Mean squared difference of two [N, L, hidden] outputs, summed micro-batch by micro-batch in fp32
// (then in double), over every element: the reference's (org_out - out).float().pow(2).mean().
// Summed on the device (each micro-batch's fp32 sum widened to double): one host read per candidate.
double mse(const at::Tensor& a, const at::Tensor& b, int64_t micro) {
  at::Tensor sum = at::zeros({}, a.options().dtype(at::kDouble));
  for (int64_t s = 0; s < a.size(0); s += micro) {
    const int64_t n = std::min(micro, a.size(0) - s);
    sum += (a.narrow(0, s, n).to(at::kFloat) - b.narrow(0, s, n).to(at::kFloat)).pow(2).sum().to(at::kDouble);
  }
  return sum.item<double>() / static_cast<double>(a.numel());
}

// A linear alone over x [N, L, in], micro-batch by micro-batch: [N, L, out] in x's dtype.
at::Tensor run_linear(const at::Tensor& x, const at::Tensor& w, int64_t micro) {
  const at::Tensor wc = w.to(x.scalar_type());
  at::Tensor out = at::empty({x.size(0), x.size(1), w.size(0)}, x.options());
  for (int64_t s = 0; s < x.size(0); s += micro) {
    const int64_t n = std::min(micro, x.size(0) - s);
    out.narrow(0, s, n).copy_(at::linear(x.narrow(0, s, n), wc));
  }
  return out;
}

struct JunctionSpec {
  const char* previous;
  std::vector<const char*> linears;
  LinearInput input;
  enum { Attention, Mlp, Linear } inspect;
};

// The junction's scale search (auto_scale's _search_module_scale) on the original block `orig`.
AwqJunction search_scale(const BlockContext& ctx, const BlockWeights& orig, const JunctionSpec& j,
                         const UniformQuantSpec& spec, int n_grid) {
  const at::Tensor& x = ctx.linear_input(j.input);                       // [N, L, in]
  const at::Tensor x_mean = ctx.statistics().get(Statistic::AbsMean, j.input);  // [in] fp32
  auto run = [&](const BlockWeights& w) {
    switch (j.inspect) {
      case JunctionSpec::Attention: return ctx.run_attention(w, x);
      case JunctionSpec::Mlp: return ctx.run_mlp(w, x);
      case JunctionSpec::Linear: break;
    }
    return run_linear(x, w.*field_of(j.linears.front()), ctx.micro_batch());
  };
  const at::Tensor org_out = run(orig);
  AwqJunction out;
  out.previous = j.previous;
  for (const char* l : j.linears) out.linears.push_back(l);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < n_grid; ++r) {
    at::Tensor s = x_mean.pow(static_cast<double>(r) / n_grid).clamp_min(1e-4).view(-1);  // [in]
    s = s / (s.max() * s.min()).sqrt();
    BlockWeights cand = orig;
    for (const char* l : j.linears) {
      const at::Tensor& w = orig.*field_of(l);  // [out, in] fp32
      cand.*field_of(l) = fake_quantize(w * s.view({1, -1}), spec) / s.view({1, -1});
    }
    const double loss = mse(org_out, run(cand), ctx.micro_batch());
    out.losses.push_back(loss);
    if (loss < best) {
      best = loss;
      out.ratio_index = r;
      out.scales = s;
    }
  }
  LOWBIT_CHECK(out.ratio_index >= 0, "awq: block ", ctx.index(), ", junction ", j.previous,
               ": no scale ratio gave a finite output error (the block's activations overflow?)");
  return out;
}

// auto_clip_layer: the max |w| per (row, group) that minimises the groups' partial output error
// over the subsampled inputs x [T, in]. w [out, in] fp32. Returns the max values [out, groups] and
// the chosen shrink step of each (row, group).
std::pair<at::Tensor, at::Tensor> search_clip(const at::Tensor& w, const at::Tensor& x, const UniformQuantSpec& spec, const AwqOptions& opt) {
  const int64_t out = w.size(0), in = w.size(1), G = spec.group_size > 0 ? spec.group_size : in, ng = in / G,
                T = x.size(0);
  const at::Tensor xg = x.view({T, ng, G}).permute({1, 0, 2}).contiguous();  // [ng, T, G]
  const int n_shrink = static_cast<int>(opt.max_shrink * opt.n_grid);
  at::Tensor best_all = at::empty({out, ng}, w.options());
  at::Tensor index_all = at::empty({out, ng}, w.options().dtype(at::kLong));
  // Rows in chunks: the partial products [ng, T, rows] stay near 64 M values whatever the shape.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(out, (int64_t{64} << 20) / std::max<int64_t>(1, ng * T)));
  for (int64_t r0 = 0; r0 < out; r0 += chunk) {
    const int64_t rows = std::min(chunk, out - r0);
    const at::Tensor wg = w.narrow(0, r0, rows).view({rows, ng, G});              // [rows, ng, G]
    const at::Tensor org_max = wg.abs().amax(-1, true);                            // [rows, ng, 1]
    at::Tensor best = org_max.clone();
    at::Tensor best_i = at::zeros_like(org_max, org_max.options().dtype(at::kLong));
    at::Tensor min_err = at::full_like(org_max, 1e9);
    const at::Tensor org_out = at::bmm(xg, wg.permute({1, 2, 0}));                // [ng, T, rows]
    for (int i = 0; i < n_shrink; ++i) {
      const at::Tensor max_val = org_max * (1 - static_cast<double>(i) / opt.n_grid);  // [rows, ng, 1]
      const at::Tensor cur = at::clamp(wg, -max_val, max_val);
      const at::Tensor q = fake_quantize(cur.reshape({rows, in}), spec).view({rows, ng, G});
      const at::Tensor cur_out = at::bmm(xg, q.permute({1, 2, 0}));               // [ng, T, rows]
      const at::Tensor err = (cur_out - org_out).pow(2).mean(1).t().unsqueeze(-1);  // [rows, ng, 1]
      const at::Tensor better = err < min_err;
      min_err = at::where(better, err, min_err);
      best = at::where(better, max_val, best);
      best_i.masked_fill_(better, i);
    }
    best_all.narrow(0, r0, rows).copy_(best.squeeze(-1));
    index_all.narrow(0, r0, rows).copy_(best_i.squeeze(-1));
  }
  return {best_all, index_all};
}

class Awq : public Method {
 public:
  explicit Awq(AwqOptions o) : opt_(o) {}
  void check_model(const LlamaConfig& c, const std::string& where) const override {
    check_group_size_divides(opt_.group_size, c, where);
  }
  MethodNeeds needs() const override {
    MethodNeeds n;
    n.statistics = {Statistic::AbsMean};
    n.linear_inputs = true;
    n.propagation = "full_precision";
    n.propagation_reason =
        "AWQ searches every block's scales and clips on the full-precision model's activations (llm-awq's run_awq "
        "feeds each block the original block's outputs)";
    return n;
  }
  QuantizedBlock quantize_block(const BlockContext& ctx, const LinearSet& which) const override {
    LOWBIT_ASSERT(which.is_all(), "awq quantizes whole blocks (it declares no true_sequential)");
    return awq_quantize_block(ctx, opt_).block;
  }

 private:
  AwqOptions opt_;
};

}  // namespace

AwqResult awq_quantize_block(const BlockContext& ctx, const AwqOptions& opt) {
  const UniformQuantSpec spec = awq_spec(opt);
  // The block in fp32 on its device; `w` starts as the same tensors and is scaled, then clipped, by
  // out-of-place ops only, so `orig` stays the original.
  const BlockWeights orig = convert_block(ctx.weights(), at::kFloat, ctx.inputs().device());
  BlockWeights w = orig;
  AwqResult result;
  // The cached inputs of each linear, divided by the scales as they are folded (for the clip search).
  std::map<LinearInput, at::Tensor> x_scale;  // [in] divisor per input; undefined = 1
  if (opt.scale_search) {
    std::vector<JunctionSpec> junctions = {
        {"input_layernorm", {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, LinearInput::Attention,
         JunctionSpec::Attention}};
    // v -> o only when the shapes agree (llm-awq's check; with GQA v_proj has fewer rows than o_proj
    // has columns, and the scales could not be folded into v's rows).
    if (orig.v.sizes() == orig.o.sizes())
      junctions.push_back({"self_attn.v_proj", {"self_attn.o_proj"}, LinearInput::AttentionOutput, JunctionSpec::Linear});
    junctions.push_back({"post_attention_layernorm", {"mlp.gate_proj", "mlp.up_proj"}, LinearInput::Mlp, JunctionSpec::Mlp});
    junctions.push_back({"mlp.up_proj", {"mlp.down_proj"}, LinearInput::MlpDown, JunctionSpec::Linear});
    // Every search on the original block (the reference restores the weights after each); then the
    // scales are folded in the same order.
    for (const JunctionSpec& j : junctions) result.junctions.push_back(search_scale(ctx, orig, j, spec, opt.n_grid));
    for (std::size_t i = 0; i < junctions.size(); ++i) {
      const at::Tensor& s = result.junctions[i].scales;  // [in]
      const std::string prev = junctions[i].previous;
      if (prev == "input_layernorm") w.input_norm = w.input_norm / s;
      else if (prev == "post_attention_layernorm") w.post_norm = w.post_norm / s;
      else {
        at::Tensor& p = w.*field_of(prev);  // [out, in]: its last s.size(0) rows feed the group
        p = at::cat({p.narrow(0, 0, p.size(0) - s.size(0)), p.narrow(0, p.size(0) - s.size(0), s.size(0)) / s.view({-1, 1})});
      }
      for (const char* l : junctions[i].linears) w.*field_of(l) = (w.*field_of(l)) * s.view({1, -1});
      x_scale[junctions[i].input] = s;
    }
  }
  if (opt.clip_search) {
    for (const BlockLinear& l : block_linears()) {
      const std::string m = l.module;
      if (m == "self_attn.q_proj" || m == "self_attn.k_proj") continue;  // "hard to clip precisely" through q.k
      const at::Tensor& x = ctx.linear_input(l.input);                    // [N, L, in]
      const int64_t ntok = x.size(0) * x.size(1);
      // auto_clip_layer's subsample x[0 :: ntok // clip_tokens] (every token when there are fewer).
      const int64_t step = std::max<int64_t>(1, ntok / opt.clip_tokens);
      at::Tensor xs = x.reshape({ntok, x.size(2)}).slice(0, 0, ntok, step).to(at::kFloat);  // [T, in]
      if (x_scale.count(l.input)) xs = xs / x_scale.at(l.input).view({1, -1});
      at::Tensor& wl = w.*l.weight;
      const auto [max_val, index] = search_clip(wl, xs, spec, opt);  // [out, groups] each
      const int64_t G = spec.group_size > 0 ? spec.group_size : wl.size(1);
      const at::Tensor mv = max_val.unsqueeze(-1);                // [out, groups, 1]
      wl = at::clamp(wl.view({wl.size(0), -1, G}), -mv, mv).reshape(wl.sizes());
      result.clip[m] = max_val;
      result.clip_index[m] = index;
    }
  }
  for (const BlockLinear& l : block_linears())
    result.block.linears.emplace(l.module, round_to_nearest_linear(w.*l.weight, spec, std::string("awq: ") + l.module));
  if (opt.scale_search) {
    result.block.parameters["input_layernorm.weight"] = w.input_norm;
    result.block.parameters["post_attention_layernorm.weight"] = w.post_norm;
  }
  return result;
}

void register_awq(MethodRegistry& r) {
  r.add({"awq",
         "AWQ: activation-aware scale search at the norm/linear junctions, clip search, then grouped asymmetric "
         "rounding (full-precision propagation)",
         "bits (4), group_size (128; 0 = per channel), n_grid (20), max_shrink (0.5), clip_tokens (512), "
         "scale_search (true), clip_search (true)",
         [](YamlSection& p) -> std::unique_ptr<Method> {
           AwqOptions o;
           o.bits = p.get<int>("bits", 4);
           o.group_size = p.get<int64_t>("group_size", 128);
           o.n_grid = p.get<int>("n_grid", 20);
           o.max_shrink = p.get<double>("max_shrink", 0.5);
           o.clip_tokens = p.get<int64_t>("clip_tokens", 512);
           o.scale_search = p.get<bool>("scale_search", true);
           o.clip_search = p.get<bool>("clip_search", true);
           p.finish();
           LOWBIT_CHECK(o.bits >= 2 && o.bits <= 8, p.file(), ": method.bits must be in [2, 8] for awq, got ", o.bits);
           LOWBIT_CHECK(o.group_size >= 0, p.file(), ": method.group_size must be >= 0, got ", o.group_size);
           LOWBIT_CHECK(o.n_grid >= 1 && o.n_grid <= 1000, p.file(), ": method.n_grid must be in [1, 1000], got ", o.n_grid);
           LOWBIT_CHECK(o.max_shrink >= 0 && o.max_shrink < 1, p.file(), ": method.max_shrink must be in [0, 1), got ",
                        o.max_shrink);
           LOWBIT_CHECK(o.clip_tokens >= 1, p.file(), ": method.clip_tokens must be >= 1, got ", o.clip_tokens);
           return std::make_unique<Awq>(o);
         }});
}

}  // namespace lowbit
