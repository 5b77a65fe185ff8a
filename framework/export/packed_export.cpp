#include "framework/export/packed_export.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "framework/core/device.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/export/checkpoint_files.h"
#include "framework/export/packed_checkpoint.h"
#include "framework/export/packed_formats.h"
#include "framework/model/llama_arch.h"
#include "framework/model/safetensors.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string config_path(const EvalTarget& t) { return (fs::path(t.model_dir) / "config.json").string(); }

// "model.layers.3.self_attn.q_proj.weight" -> "self_attn.q_proj"
std::string module_of(const TensorSpec& s) {
  const std::string name = s.name.substr(0, s.name.size() - std::string(".weight").size());
  const std::size_t dot = name.find('.', std::string("model.layers.").size());
  return name.substr(dot + 1);
}

DType stored_type(c10::ScalarType t) {
  return t == at::kInt ? DType::I32 : t == at::kLong ? DType::I64 : stored_dtype(t);
}

// One block at a time, as the export asks for its tensors in checkpoint order: the block's linear
// artifacts (from the run's shard, or unpacked from a packed source checkpoint), packed in the
// target format, and its norms (with a method's replaced parameters applied).
class BlockPacker {
 public:
  BlockPacker(const EvalTarget& t, const PackedFormat& f, const LlamaConfig& c, const ExportOptions& o)
      : t_(t), f_(f), c_(c) {
    if (!t.quantized) {
      source_ = PackedCheckpoint::open(t.model_dir);
      LOWBIT_CHECK(source_, t.path, ": a plain model holds no integer codes to pack (quantize it first; `--format hf` "
                                    "needs no export)");
      model_ = std::make_unique<SafetensorsModel>(t.model_dir);
    }
    load(0);
    const QuantizedLinear& first = part_.linears.begin()->second;
    scheme_ = scheme_of(first, f.name);
    // GPTQ's zero convention: as asked; else the source checkpoint's (a re-export), else v1 when symmetric.
    scheme_.gptq_v2 = !o.gptq_format.empty()                       ? o.gptq_format == "v2"
                      : source_ && source_->format().name == "gptq" ? source_->scheme().gptq_v2
                                                                    : !scheme_.symmetric;
    const std::string why = packed_refusal(f, first, scheme_);
    LOWBIT_CHECK(why.empty(), t.path, ": ", t.method.empty() ? t.packed_format : t.method, " (", first.bits,
                 "-bit, group size ", first.group_size, ") cannot be exported as ", f.name, ": ", where_, ": ",
                 part_.linears.begin()->first, ": ", why);
    scheme_.desc_act = false;  // set by any linear that needs it, as they are packed
    scheme_.scale_dtype = f.dtypes.front();
    if (!o.dtype.empty()) {
      scheme_.scale_dtype = float_dtype(o.dtype, "--dtype");
      std::string names;
      for (c10::ScalarType d : f.dtypes) names += (names.empty() ? "" : ", ") + std::string(float_dtype_name(d));
      LOWBIT_CHECK(std::find(f.dtypes.begin(), f.dtypes.end(), scheme_.scale_dtype) != f.dtypes.end(),
                   "--dtype ", o.dtype, ": a ", f.name, " checkpoint is ", names);
    }
    // What GPTQ's quantize_config records of the calibration: the run's method settings where it has
    // them, or the source checkpoint's record (a re-export keeps it).
    if (t.quantized) {
      const YAML::Node m = YAML::Load(t.method_config);
      if (m["damp"]) scheme_.provenance["damp_percent"] = m["damp"].as<double>();
      if (m["true_sequential"]) scheme_.provenance["true_sequential"] = m["true_sequential"].as<bool>();
      scheme_.provenance["meta"] = {{"quantizer", {std::string("lowbit:") + LOWBIT_VERSION}}, {"lowbit_method", t.method}};
    } else {
      const json source = parse_json_object(read_file(config_path(t)), config_path(t)).value("quantization_config", json::object());
      for (const char* key : {"damp_percent", "true_sequential", "meta"})
        if (source.contains(key)) scheme_.provenance[key] = source[key];
    }
  }

  PackedScheme& scheme() { return scheme_; }

  // The bytes of tensor `name` of block `block` (a norm, or `suffix` of the packed linear `module`).
  at::Tensor norm(int64_t block, BlockTensor t) {
    load(block);
    return block_field(weights_, t);
  }
  at::Tensor packed(int64_t block, const std::string& module, const std::string& suffix) {
    load(block);
    if (!packed_.count(module)) {
      const QuantizedLinear& q = part_.linears.at(module);
      const std::string why = packed_refusal(f_, q, scheme_);
      LOWBIT_CHECK(why.empty(), where_, ": ", module, " cannot be exported as ", f_.name, ": ", why);
      if (!consecutive_groups(q.tensors.at("g_idx"), q.group_size)) scheme_.desc_act = true;
      for (auto& [s, tensor] : f_.pack(q, scheme_)) packed_[module][s] = std::move(tensor);
    }
    return packed_.at(module).at(suffix);
  }

 private:
  void load(int64_t block) {
    if (block == loaded_) return;
    const auto t0 = std::chrono::steady_clock::now();
    LoadOptions lo;
    lo.first_block = block;
    lo.end_block = block + 1;
    lo.embedding = lo.head = false;
    LlamaWeights base = load_llama(t_.model_dir, lo);
    part_ = QuantizedBlock{};
    packed_.clear();
    if (t_.quantized) {
      where_ = t_.manifest.shard_path(t_.manifest.shard_of(block));
      part_ = read_run_block(t_, block);
      for (const BlockLinear& l : block_linears())
        LOWBIT_CHECK(!part_.parameters.count(std::string(l.module) + ".weight"), where_, ": block ", block, " replaces ",
                     l.module, "'s weight in full precision beside its codes; a packed checkpoint cannot hold that "
                     "(`--format hf` can)");
      weights_ = apply_quantized_block(base.blocks[0], part_, where_ + ": block " + std::to_string(block));
    } else {
      where_ = t_.model_dir;
      for (const TensorSpec& s : block_tensors(c_, block)) {
        if (s.shape.size() != 2) continue;
        LOWBIT_CHECK(source_->holds(*model_, s), t_.model_dir, ": ", s.name,
                     " is stored unquantized; a packed checkpoint of ", f_.name, " holds every linear packed");
        part_.linears[module_of(s)] = source_->read(*model_, s);
      }
      weights_ = base.blocks[0];
    }
    loaded_ = block;
    std::printf("export: block %lld/%lld read in %.2f s\n", static_cast<long long>(block + 1),
                static_cast<long long>(c_.num_hidden_layers),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::fflush(stdout);
  }

  const EvalTarget& t_;
  const PackedFormat& f_;
  const LlamaConfig& c_;
  std::optional<PackedCheckpoint> source_;
  std::unique_ptr<SafetensorsModel> model_;
  PackedScheme scheme_;
  int64_t loaded_ = -1;
  std::string where_;
  QuantizedBlock part_;
  BlockWeights weights_;
  std::map<std::string, std::map<std::string, at::Tensor>> packed_;
};

std::string model_card(const EvalTarget& t, const PackedFormat& f, const PackedScheme& s) {
  std::string card = fmt::format("# {} — {} packed as {} (lowbit export)\n\n", t.model_name,
                                 t.method.empty() ? "imported " + t.packed_format + " checkpoint" : t.method, f.name);
  card += fmt::format(
      "{}-bit integer codes, {}, {} zero points, {} scales; every linear of every decoder block packed, embedding, "
      "norms and head in {}. `quantization_config` in config.json says how to read them (docs/exports.md in lowbit).\n\n",
      s.bits, s.group_size == 0 ? std::string("one scale per output channel") : fmt::format("groups of {}", s.group_size),
      s.symmetric ? "symmetric" : "asymmetric", float_dtype_name(s.scale_dtype), float_dtype_name(s.scale_dtype));
  card += fmt::format(
      "The codes and zero points are lowbit's own; the scales are lowbit's fp32 scales rounded to {}, so a loaded "
      "weight is {}(scale) × (q − zero), which can differ from lowbit's evaluation (fp32 scales) by one rounding of "
      "the scale.\n",
      float_dtype_name(s.scale_dtype), float_dtype_name(s.scale_dtype));
  if (f.name == "gptq")
    card += s.gptq_v2 ? "\nZero points are stored as they are (`checkpoint_format: gptq_v2`): gptqmodel and transformers "
                        "read it; loaders of the original layout (v1: zero − 1) do not.\n"
                      : "\nZero points are stored as zero − 1 (the original GPTQ layout, `checkpoint_format: gptq`).\n";
  if (t.quantized) card += fmt::format("\n- method: `{}`\n- method settings:\n\n```yaml\n{}\n```\n", t.method, t.method_config);
  if (t.activations.enabled())
    card += fmt::format("\n**Activations are not quantized by the loader.** This method also quantizes activations "
                        "({}-bit) in lowbit's forward pass; loaded as a weight-only {} checkpoint the linears run "
                        "with full-precision activations, so its numbers differ from lowbit's evaluation.\n",
                        t.activations.bits, f.name);
  card += "\nProvenance (base model and run fingerprints): lowbit_export.json.\n";
  return card;
}

}  // namespace

void write_packed_export(const EvalTarget& t, const ExportOptions& o, const std::string& dir) {
  const PackedFormat* f = find_packed_format(o.format);
  LOWBIT_ASSERT(f, "not a packed format: ", o.format);
  LOWBIT_CHECK(t.adapter_dir.empty(), t.path, ": LoRA adapters merged into the weights are not integer codes; ",
               f->name, " cannot hold them (`--format hf` exports the merged weights)");
  LOWBIT_CHECK(o.gptq_format.empty() || f->name == "gptq", "--gptq-format applies to --format gptq only");
  const std::string config_path = (fs::path(t.model_dir) / "config.json").string();
  const LlamaConfig c = LlamaConfig::from_file(config_path);
  LOWBIT_CHECK(!c.multimodal(), config_path, ": a ", c.model_type,
               " checkpoint: lowbit exports LlamaForCausalLM models only (the vision tower would be left out)");
  BlockPacker packer(t, *f, c, o);
  const c10::ScalarType dtype = packer.scheme().scale_dtype;
  if (f->name == "gptq" && o.gptq_format.empty() && packer.scheme().gptq_v2)
    std::printf("export: asymmetric zero points -> checkpoint_format gptq_v2 (zeros as they are; gptqmodel and "
                "transformers read it, vLLM's GPTQ kernels read v1 only: `--gptq-format v1` writes v1 when no zero point "
                "is 0)\n");

  if (f->name == "gptq" && !packer.scheme().gptq_v2 && !packer.scheme().symmetric)
    std::printf("export: note: asymmetric codes in the v1 layout: vLLM's GPTQ kernels read them; gptqmodel (and "
                "transformers through it) refuses asymmetric v1 checkpoints it did not write itself (v2 is the default)\n");
  // Tensors in checkpoint order; a packed linear's shapes come from the format's layout.
  std::vector<TensorToWrite> tensors;
  const auto dense = [&](const TensorSpec& s, std::function<at::Tensor()> get) {
    tensors.push_back({s.name, stored_dtype(dtype), s.shape, nullptr, [get, dtype, name = s.name](std::string& bytes) {
                         copy_tensor_bytes(get(), dtype, bytes, name);
                       }});
  };
  // Embedding, final norm and head, each read when its turn comes, in the checkpoint dtype (the head
  // part is kept from the final norm to the head, the two last tensors).
  const auto outer_part = [&](bool head) {
    RankPlan plan;
    plan.embedding = !head;
    plan.head = head;
    return load_eval_part(t, plan, c10::kCPU, dtype);
  };
  std::unique_ptr<LlamaWeights> head_part;
  const auto head = [&]() -> LlamaWeights& {
    if (!head_part) head_part = std::make_unique<LlamaWeights>(outer_part(true));
    return *head_part;
  };
  dense(embedding_tensor(c), [&] { return outer_part(false).embedding; });
  for (int64_t b = 0; b < c.num_hidden_layers; ++b) {
    const auto specs = block_tensors(c, b);
    for (int k = 0; k < kBlockTensorCount; ++k) {
      const auto bt = static_cast<BlockTensor>(k);
      const TensorSpec& s = specs[static_cast<std::size_t>(k)];
      if (!is_linear(bt)) {
        dense(s, [&packer, b, bt] { return packer.norm(b, bt); });
        continue;
      }
      const std::string module = module_of(s);
      const std::string prefix = s.name.substr(0, s.name.size() - std::string("weight").size());
      for (const auto& l : f->layout(packer.scheme(), s.shape[0], s.shape[1])) {
        const bool is_float = c10::isFloatingType(l.dtype);
        tensors.push_back({prefix + l.suffix, is_float ? stored_dtype(dtype) : stored_type(l.dtype), l.shape, nullptr,
                           [&packer, b, module, suffix = l.suffix, name = prefix + l.suffix](std::string& bytes) {
                             const at::Tensor v = packer.packed(b, module, suffix);
                             copy_tensor_bytes(v, v.scalar_type(), bytes, name);
                           }});
      }
    }
  }
  dense(final_norm_tensor(c), [&] { return head().final_norm; });
  if (!c.tie_word_embeddings) dense(lm_head_tensor(c), [&] { return head().lm_head; });
  write_checkpoint_tensors(dir, tensors, o.shard_bytes);

  // Written last: desc_act is known once every linear has been packed.
  const PackedScheme& s = packer.scheme();
  write_file_atomic((fs::path(dir) / "config.json").string(), export_config(t.model_dir, dtype, f->config(s)).dump(2) + "\n");
  for (const auto& [name, text] : f->extra_files(s)) write_file_atomic((fs::path(dir) / name).string(), text);
  copy_tokenizer_files(t.model_dir, dir);
  write_file_atomic((fs::path(dir) / "README.md").string(), model_card(t, *f, s));
  json provenance = export_provenance(t, f->name, dtype);
  provenance["packed_source"] = t.packed_format;
  write_file_atomic((fs::path(dir) / "lowbit_export.json").string(), provenance.dump(2) + "\n");
}

}  // namespace lowbit
