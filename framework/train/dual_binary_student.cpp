#include "framework/train/dual_binary_student.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstring>

#include "evaluation/eval_model.h"
#include "framework/core/error.h"
#include "framework/model/llama_arch.h"
#include "framework/model/llama_forward.h"
#include "framework/model/safetensors.h"
#include "framework/model/safetensors_writer.h"
#include "methods/common/artifact_formats.h"
#include "methods/method.h"

namespace lowbit {

std::string dual_binary_scale_name(int64_t block, const std::string& module) {
  return "model.layers." + std::to_string(block) + "." + module + ".alpha";
}

namespace {

// w [out, in] = α1·b1 + α2·b2 per group, differentiable in α, as an autograd function of its own:
// the forward and backward multiply by the planes converted on the fly, and only the boolean planes
// are kept for the backward. (Composed of ATen ops, autograd would keep float copies of the planes,
// 8 bytes per weight, or — written with where() — run 3–5x slower on the CPU.)
struct DualBinaryDecode : public torch::autograd::Function<DualBinaryDecode> {
  // alpha fp32 [2, out, groups], planes bool [2, out, in] -> fp32 [out, in]
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& alpha, const at::Tensor& planes,
                            int64_t group_size) {
    ctx->save_for_backward({planes});
    ctx->saved_data["group_size"] = group_size;
    const int64_t out = planes.size(1), in = planes.size(2), groups = in / group_size;
    at::Tensor w = planes[0].view({out, groups, group_size}).to(at::kFloat).mul_(alpha[0].unsqueeze(-1));
    w.addcmul_(planes[1].view({out, groups, group_size}).to(at::kFloat), alpha[1].unsqueeze(-1));
    return w.view({out, in});
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor planes = ctx->get_saved_variables()[0];
    const int64_t group_size = ctx->saved_data["group_size"].toInt();
    const int64_t out = planes.size(1), in = planes.size(2), groups = in / group_size;
    const at::Tensor g = grads[0].to(at::kFloat).reshape({out, groups, group_size});
    const at::Tensor d1 = (g * planes[0].view({out, groups, group_size}).to(at::kFloat)).sum(-1);
    const at::Tensor d2 = (g * planes[1].view({out, groups, group_size}).to(at::kFloat)).sum(-1);
    return {at::stack({d1, d2}), at::Tensor(), at::Tensor()};  // [2, out, groups]; planes and group size: none
  }
};

at::Tensor decode_trainable(const at::Tensor& planes, const at::Tensor& alpha, int64_t group_size) {
  return DualBinaryDecode::apply(alpha, planes, group_size);
}

// A scales file's tensor `name` as fp32 of `shape` (checked: present, F32, the shape, finite).
at::Tensor read_scale(const SafetensorsFile& f, const std::string& name, at::IntArrayRef shape) {
  LOWBIT_CHECK(f.contains(name), f.path(), ": missing tensor '", name, "'");
  const TensorView v = f.view(name);
  LOWBIT_CHECK(v.info->dtype == DType::F32, f.path(), ": tensor '", name, "' has dtype ", dtype_name(v.info->dtype),
               "; expected F32");
  LOWBIT_CHECK(v.info->shape == shape.vec(), f.path(), ": tensor '", name, "' has shape ", shape_to_string(v.info->shape),
               "; the run's is ", shape_to_string(shape.vec()));
  const at::Tensor t = at::from_blob(const_cast<std::byte*>(v.data), shape, at::kFloat).clone();
  LOWBIT_CHECK(t.isfinite().all().item<bool>(), f.path(), ": tensor '", name, "' has non-finite values");
  return t;
}

}  // namespace

DualBinaryStudent::DualBinaryStudent(const LlamaWeights& teacher, const BlockReader& read, const std::string& what) {
  skeleton_.config = teacher.config;
  skeleton_.embedding = teacher.embedding;
  skeleton_.final_norm = teacher.final_norm;
  skeleton_.lm_head = teacher.lm_head;
  const c10::Device device = teacher.embedding.device();
  for (int64_t b = 0; b < static_cast<int64_t>(teacher.blocks.size()); ++b) {
    const std::string where = what + ": block " + std::to_string(b);
    QuantizedBlock q = read(b);
    std::map<std::string, Linear> linears;
    for (const BlockLinear& l : block_linears()) {
      LOWBIT_CHECK(q.linears.count(l.module), where, ": no ", l.module);
      const QuantizedLinear& a = q.linears.at(l.module);
      LOWBIT_CHECK(a.format == "dual_binary", where, ": ", l.module, " is stored as '", a.format,
                   "'; distillation trains the scales of dual_binary linears (method db-llm)");
      Linear s;
      s.planes = a.tensors.at("planes").to(device, at::kBool);
      s.alpha = a.tensors.at("alpha").to(device, at::kFloat).contiguous();
      s.group_size = a.group_size;
      s.weight_rms = a.weight.pow(2).mean().sqrt().item<double>();
      linears.emplace(l.module, std::move(s));
    }
    // The run's replaced parameters and forward spec over the teacher's block; the linears are
    // decoded at each forward, so the block keeps none.
    q.linears.clear();
    BlockWeights block = apply_quantized_block(teacher.blocks[static_cast<std::size_t>(b)], q, where);
    for (const BlockLinear& l : block_linears()) block.*l.weight = at::Tensor();
    skeleton_.blocks.push_back(std::move(block));
    linears_.push_back(std::move(linears));
  }
}

DualBinaryStudent DualBinaryStudent::of_run(const EvalTarget& t, const LlamaWeights& teacher) {
  LOWBIT_CHECK(t.quantized, t.path, ": not a lowbit run directory; distillation trains a run's dual_binary scales");
  return DualBinaryStudent(teacher, [&t](int64_t b) { return read_run_block(t, b); }, t.path);
}

std::vector<Parameter> DualBinaryStudent::parameters() const {
  std::vector<Parameter> out;
  for (std::size_t b = 0; b < linears_.size(); ++b)
    for (const BlockLinear& l : block_linears()) {
      const Linear& s = linears_[b].at(l.module);
      out.push_back({dual_binary_scale_name(static_cast<int64_t>(b), l.module), s.alpha, false, s.weight_rms});
    }
  return out;
}

at::Tensor DualBinaryStudent::logits(const at::Tensor& ids) const {
  const c10::ScalarType dtype = skeleton_.embedding.scalar_type();
  at::Tensor hidden = embed(skeleton_, ids.to(skeleton_.embedding.device()));  // [batch, seq, hidden]
  const RopeTables rope = rope_tables(skeleton_.config, ids.size(1), dtype, hidden.device());
  for (std::size_t b = 0; b < skeleton_.blocks.size(); ++b) {
    BlockWeights block = skeleton_.blocks[b];
    for (const BlockLinear& l : block_linears()) {
      const Linear& s = linears_[b].at(l.module);
      block.*l.weight = decode_trainable(s.planes, s.alpha, s.group_size).to(dtype);
    }
    hidden = block_forward(block, skeleton_.config, hidden, rope);
  }
  return head(skeleton_, hidden);  // [batch, seq, vocab] fp32
}

void DualBinaryStudent::save_scales(const std::string& path) const {
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const Parameter& p : parameters()) {
    keep.push_back(p.value.detach().to(at::kCPU, at::kFloat).contiguous());
    tensors.push_back({p.name, DType::F32, keep.back().sizes().vec(), keep.back().data_ptr()});
  }
  write_safetensors(path, tensors, {{"format", "lowbit-dual-binary-scales"}});
}

void DualBinaryStudent::load_scales(const std::string& path) {
  const SafetensorsFile f(path);
  LOWBIT_CHECK(f.tensors().size() == parameters().size(), path, ": ", f.tensors().size(), " tensors, this run has ",
               parameters().size(), " dual_binary linears");
  c10::NoGradGuard no_grad;
  for (std::size_t b = 0; b < linears_.size(); ++b)
    for (const BlockLinear& l : block_linears()) {
      at::Tensor& alpha = linears_[b].at(l.module).alpha;
      alpha.copy_(read_scale(f, dual_binary_scale_name(static_cast<int64_t>(b), l.module), alpha.sizes()));
    }
}

void apply_trained_scales(const std::string& scales_file, int64_t block, QuantizedBlock& q) {
  const SafetensorsFile f(scales_file);
  for (auto& [module, a] : q.linears) {
    LOWBIT_CHECK(a.format == "dual_binary", scales_file, ": trained scales for block ", block, " but its ", module,
                 " is stored as '", a.format, "', not dual_binary");
    a.tensors.at("alpha") = read_scale(f, dual_binary_scale_name(block, module), a.tensors.at("alpha").sizes());
    finish_artifact(a, scales_file + ": block " + std::to_string(block) + " " + module);
  }
}

}  // namespace lowbit
