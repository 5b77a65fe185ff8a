// `lowbit make-model --shape llama3-8b|llama3-70b --layers N --seed S OUT_DIR`: a random-weight
// model with the real LLaMA-3 tensor shapes and N blocks, for performance and memory work.
// Tensors are generated and written one at a time, so memory stays at one tensor.
#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstring>
#include <filesystem>

#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/model/llama_arch.h"
#include "framework/model/llama_presets.h"
#include "framework/model/safetensors_writer.h"

namespace lowbit::cli {
namespace {

namespace fs = std::filesystem;

struct MakeModelArgs {
  std::string shape;
  int64_t layers = 1;
  uint64_t seed = 0;
  std::string dtype = "bfloat16";
  std::string out;
};

void run(const MakeModelArgs& a) {
  LlamaConfig c = llama_preset(a.shape);
  LOWBIT_CHECK(a.layers >= 1 && a.layers <= c.num_hidden_layers, "--layers must be in [1, ", c.num_hidden_layers,
               "] for ", a.shape, ", got ", a.layers);
  LOWBIT_CHECK(a.dtype == "bfloat16" || a.dtype == "float16" || a.dtype == "float32",
               "--dtype must be bfloat16, float16 or float32, got '", a.dtype, "'");
  LOWBIT_CHECK(!fs::exists(fs::path(a.out) / "model.safetensors"), a.out,
               ": already holds a model.safetensors; choose an empty directory");
  c.num_hidden_layers = a.layers;
  c.torch_dtype = a.dtype;
  const at::ScalarType st = a.dtype == "bfloat16" ? at::kBFloat16 : a.dtype == "float16" ? at::kHalf : at::kFloat;
  const DType dt = a.dtype == "bfloat16" ? DType::BF16 : a.dtype == "float16" ? DType::F16 : DType::F32;

  at::Generator gen = at::detail::createCPUGenerator(a.seed);
  std::vector<TensorToWrite> tensors;
  uint64_t bytes = 0;
  for (const TensorSpec& s : all_tensors(c)) {
    const bool norm = s.shape.size() == 1;
    TensorToWrite t{s.name, dt, s.shape, nullptr, {}};
    t.produce = [&gen, s, norm, st, name = s.name](std::string& out) {
      // transformers' initialisation: N(0, 0.02) for linears and embedding, 1 for norms.
      const at::Tensor v = (norm ? at::ones(s.shape) : at::normal(0.0, 0.02, s.shape, gen)).to(st).contiguous();
      std::memcpy(out.data(), v.data_ptr(), out.size());
      std::printf("  %s\n", name.c_str());
      std::fflush(stdout);
    };
    uint64_t n = dtype_size(dt);
    for (int64_t d : s.shape) n *= static_cast<uint64_t>(d);
    bytes += n;
    tensors.push_back(std::move(t));
  }
  fs::create_directories(a.out);
  std::printf("writing %s: %s with %lld blocks, %.2f GiB of %s weights\n", a.out.c_str(), a.shape.c_str(),
              static_cast<long long>(a.layers), bytes / double(1ull << 30), a.dtype.c_str());
  write_safetensors((fs::path(a.out) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  write_file_atomic((fs::path(a.out) / "config.json").string(), c.to_json_text());
  std::printf("done\n");
}

}  // namespace

void add_make_model(CLI::App& app) {
  auto a = std::make_shared<MakeModelArgs>();
  auto* cmd = app.add_subcommand("make-model", "Write a random-weight model with the real LLaMA-3 8B/70B tensor shapes");
  std::string shapes;
  for (const auto& n : llama_preset_names()) shapes += (shapes.empty() ? "" : "|") + n;
  cmd->add_option("--shape", a->shape, shapes)->required();
  cmd->add_option("--layers", a->layers, "Number of decoder blocks")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "Stored dtype: bfloat16 (as released), float16 or float32")->capture_default_str();
  cmd->add_option("OUT_DIR", a->out, "Output directory")->required();
  cmd->callback([a] { run(*a); });
}

}  // namespace lowbit::cli
