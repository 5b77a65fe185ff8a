// lowbit_bench: throughput of the model core on this machine (figures go to docs/performance.md;
// nothing here is asserted). benchmarks/compare_with_hf.py runs it beside the Hugging Face
// equivalents in one go.
//   lowbit_bench tokenize --tokenizer T --file F    tokenizer MB/s
//   lowbit_bench forward --model DIR                forward tokens/s
//   lowbit_bench matmul --n 2048                    libtorch BLAS GFLOP/s (the floor of everything)
//   lowbit_bench gptq --rows R --cols C              GPTQ seconds per linear
//   lowbit_bench digest --model DIR                  weight digests (XXH64 per tensor) GB/s, pages cached
//   lowbit_bench block --model DIR --method M --params YAML   a method's seconds per block (statistics + method)
//   lowbit_bench dequant --rows R --cols C --bits B  decoding a QuIP (incoherent) linear: seconds, peak memory
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <stdexcept>
#include <string>

#include <algorithm>
#include <chrono>
#include <sys/resource.h>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/core/xxhash64.h"
#include "framework/model/llama_forward.h"
#include "framework/model/safetensors.h"
#include "framework/model/llama_weights.h"
#include "framework/model/tokenizer.h"
#include "framework/calibrate/block_context.h"
#include "framework/calibrate/layer_loop.h"
#include "methods/common/incoherent_format.h"
#include "methods/quip.h"
#include "framework/config/yaml_reader.h"
#include "methods/common/gptq_solver.h"
#include "methods/common/hessian.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double best_seconds(int repeat, F&& f) {
  double best = 1e30;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// A method on block 0 of `model` over `seqs` random sequences of `seq_len` tokens, as the layer
// loop runs it per block (calibrate_block: the declared statistics, then the method), fp32 on the CPU.
void bench_block(const std::string& model, const std::string& method, const std::string& params, int64_t seqs,
                 int64_t seq_len, int repeat) {
  lowbit::LoadOptions opt;
  opt.end_block = 1;
  opt.head = false;
  const lowbit::LlamaWeights w = lowbit::load_llama(model, opt);
  at::manual_seed(0);
  const at::Tensor ids = at::randint(w.config.vocab_size, {seqs, seq_len}, at::kLong);
  c10::InferenceMode guard;
  const at::Tensor x = lowbit::embed(w, ids);  // [seqs, seq_len, hidden]
  const lowbit::RopeTables rope = lowbit::rope_tables(w.config, seq_len, at::kFloat);
  lowbit::YamlSection p = lowbit::load_yaml_text(params, "--params");
  const auto m = lowbit::MethodRegistry::builtin().get(method).create(p);
  lowbit::LayerLoopOptions loop;
  loop.micro_batch = 1;
  loop.quantized_propagation = m->needs().propagation != "full_precision";
  const double sec = best_seconds(repeat, [&] {
    std::map<std::string, at::Tensor> kept;
    lowbit::calibrate_block(0, w.blocks[0], w.config, x, rope, *m, loop, kept);
  });
  std::string shown = params;
  for (char& ch : shown)
    if (ch == '\n') ch = ' ';
  fmt::print("block: {} ({}), hidden {}, intermediate {}, {} x {} tokens: {:.2f} s per block (best of {})\n", method,
             shown, w.config.hidden_size, w.config.intermediate_size, seqs, seq_len, sec, repeat);
}

void bench_tokenize(const std::string& tokenizer, const std::string& file, int repeat) {
  const lowbit::Tokenizer tok = lowbit::Tokenizer::from_file(tokenizer);
  const std::string text = lowbit::read_file(file);
  std::size_t n = 0;
  const double sec = best_seconds(repeat, [&] { n = tok.encode(text).size(); });
  fmt::print("tokenize: {:.2f} MB -> {} tokens in {:.3f} s = {:.2f} MB/s (best of {})\n", text.size() / 1e6, n, sec,
             text.size() / 1e6 / sec, repeat);
}

void bench_forward(const std::string& model, int64_t batch, int64_t seq, const std::string& dtype, int repeat) {
  lowbit::LoadOptions opt;
  opt.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  const lowbit::LlamaWeights w = lowbit::load_llama(model, opt);
  const at::Tensor ids = at::randint(w.config.vocab_size, {batch, seq}, at::kLong);
  lowbit::forward(w, ids);  // warm-up
  const double sec = best_seconds(repeat, [&] { lowbit::forward(w, ids); });
  fmt::print("forward: {} x {} tokens, {} blocks, hidden {}, {}: {:.3f} s = {:.1f} tokens/s (best of {})\n", batch, seq,
             w.config.num_hidden_layers, w.config.hidden_size, dtype, sec, batch * seq / sec, repeat);
}

void bench_gptq(int64_t rows, int64_t cols, int64_t tokens, int bits, int64_t group, const std::string& route,
                int repeat) {
  // A Hessian from correlated random activations, as calibration would give.
  const at::Tensor x = at::randn({tokens, cols}).matmul(at::eye(cols) + 0.05 * at::randn({cols, cols}));
  lowbit::HessianAccumulator acc(cols);
  acc.add(x.unsqueeze(0));
  const at::Tensor w = 0.02 * at::randn({rows, cols});
  lowbit::GptqOptions opt;
  opt.quant = {bits, group, false};
  // auto: the row-tiled CPU solver on these CPU tensors; aten: the device route, run on the CPU.
  if (route != "auto" && route != "aten") throw std::runtime_error("--route must be auto or aten");
  opt.route = route == "aten" ? lowbit::GptqRoute::Aten : lowbit::GptqRoute::Auto;
  lowbit::gptq_quantize(w, acc.hessian(), opt);  // warm-up
  const double sec = best_seconds(repeat, [&] { lowbit::gptq_quantize(w, acc.hessian(), opt); });
  fmt::print("gptq ({} route): W [{}, {}], {} bits, group {}: {:.3f} s per linear (best of {})\n", route, rows, cols,
             bits, group, sec, repeat);
}

// The first use of a model reads every tensor once to digest it (framework/model/weight_digests);
// this is that pass without the cache, the pages already in memory (the disk is the limit otherwise).
void bench_digest(const std::string& model_dir, int repeat) {
  lowbit::SafetensorsModel model(model_dir);
  uint64_t bytes = 0, sink = 0;
  for (const std::string& name : model.names()) {  // fault the pages in once
    const lowbit::TensorView v = model.view(name);
    bytes += v.info->nbytes();
    sink ^= lowbit::xxhash64(v.data, v.info->nbytes());
  }
  const double sec = best_seconds(repeat, [&] {
    for (const std::string& name : model.names()) {
      const lowbit::TensorView v = model.view(name);
      sink ^= lowbit::xxhash64(v.data, v.info->nbytes());
    }
  });
  fmt::print("digest: {} tensors, {:.2f} GB in {:.3f} s = {:.2f} GB/s (best of {}; {:x})\n", model.names().size(),
             bytes / 1e9, sec, bytes / 1e9 / sec, repeat, sink & 0xff);
}

// Decoding a QuIP linear through its butterflies: seconds, and how far the process's peak memory
// grew beside what one dense n x n float64 transform of its larger side would take.
void bench_dequant(int64_t rows, int64_t cols, int bits, int repeat) {
  const auto [u, v] = lowbit::quip_transforms(0, 0, "bench", rows, cols);
  const at::Tensor codes = at::randint(0, 1 << bits, {rows, cols}, at::kByte), rescale = at::rand({cols}) + 0.5;
  const at::Tensor sigma = at::full({1}, 0.05f);
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  const long before = r.ru_maxrss;
  lowbit::QuantizedLinear q;
  const double sec =
      best_seconds(repeat, [&] { q = lowbit::incoherent_linear(codes, sigma, rescale, u, v, bits, "bench"); });
  getrusage(RUSAGE_SELF, &r);
  const int64_t n = std::max(rows, cols);
  fmt::print("dequant (incoherent, {} bits): W [{}, {}] in {:.3f} s (best of {}); peak memory grew by {:.0f} MB, "
             "the weight is {:.0f} MB in fp32, a dense {}^2 float64 transform would be {:.0f} MB\n",
             bits, rows, cols, sec, repeat, (r.ru_maxrss - before) / 1024.0, rows * cols * 4.0 / (1 << 20), n,
             n * n * 8.0 / (1 << 20));
}

void bench_matmul(int64_t n, int repeat) {
  const at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  at::mm(a, b);
  const double sec = best_seconds(repeat, [&] { at::mm(a, b); });
  fmt::print("matmul: {}^3 fp32 in {:.3f} s = {:.1f} GFLOP/s (best of {})\n", n, sec, 2.0 * n * n * n / sec / 1e9, repeat);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lowbit_bench: model-core throughput on this machine"};
  app.require_subcommand(1);
  int repeat = 3;
  int threads = 0;
  app.add_option("--repeat", repeat, "Timed repetitions (the best is reported)")->capture_default_str();
  app.add_option("--threads", threads, "libtorch intra-op threads (0: libtorch's default)");
  std::string tokenizer, file, model, dtype = "float32";
  int64_t batch = 1, seq = 512, n = 2048;
  auto* tok = app.add_subcommand("tokenize", "Tokenizer throughput");
  tok->add_option("--tokenizer", tokenizer, "tokenizer.json")->required();
  tok->add_option("--file", file, "Text file")->required();
  auto* fwd = app.add_subcommand("forward", "Forward-pass throughput");
  fwd->add_option("--model", model, "Model directory")->required();
  fwd->add_option("--batch", batch)->capture_default_str();
  fwd->add_option("--seq", seq)->capture_default_str();
  fwd->add_option("--dtype", dtype, "float32 or bfloat16")->capture_default_str();
  int64_t rows = 4096, cols = 4096, tokens = 8192, group = 128;
  int bits = 4;
  std::string route = "auto";
  auto* gq = app.add_subcommand("gptq", "GPTQ seconds per linear");
  gq->add_option("--rows", rows, "Output features")->capture_default_str();
  gq->add_option("--cols", cols, "Input features")->capture_default_str();
  gq->add_option("--tokens", tokens, "Calibration tokens for the Hessian")->capture_default_str();
  gq->add_option("--bits", bits)->capture_default_str();
  gq->add_option("--group", group, "Group size (0: per channel)")->capture_default_str();
  gq->add_option("--route", route, "auto (the row-tiled CPU solver) or aten (the device route, on the CPU)")
      ->capture_default_str();
  int64_t seqs = 2, seq_len = 512;
  std::string method_name = "awq", params = "bits: 4";
  auto* bk = app.add_subcommand("block", "A method's seconds per block (block 0 of --model)");
  bk->add_option("--model", model, "Model directory (lowbit make-model --shape llama3-8b --layers 2)")->required();
  bk->add_option("--method", method_name, "Registered method")->capture_default_str();
  bk->add_option("--params", params, "The method's parameters as YAML (e.g. 'bits: 4\ngroup_size: 128')")
      ->capture_default_str();
  bk->add_option("--seqs", seqs, "Calibration sequences")->capture_default_str();
  bk->add_option("--seq-len", seq_len, "Tokens per sequence")->capture_default_str();
  auto* dg = app.add_subcommand("digest", "Weight-digest throughput (XXH64 over every tensor)");
  dg->add_option("--model", model, "Model directory")->required();
  auto* dq = app.add_subcommand("dequant", "Decoding a QuIP (incoherent) linear: seconds and peak memory");
  dq->add_option("--rows", rows, "Output features")->capture_default_str();
  dq->add_option("--cols", cols, "Input features")->capture_default_str();
  dq->add_option("--bits", bits)->capture_default_str();
  auto* mm = app.add_subcommand("matmul", "Square fp32 matmul GFLOP/s");
  mm->add_option("--n", n)->capture_default_str();
  try {
    app.parse(argc, argv);
    if (threads > 0) at::set_num_threads(threads);
    if (*tok) bench_tokenize(tokenizer, file, repeat);
    if (*fwd) bench_forward(model, batch, seq, dtype, repeat);
    if (*mm) bench_matmul(n, repeat);
    if (*dg) bench_digest(model, repeat);
    if (*gq) bench_gptq(rows, cols, tokens, bits, group, route, repeat);
    if (*dq) bench_dequant(rows, cols, bits, repeat);
    if (*bk) bench_block(model, method_name, params, seqs, seq_len, repeat);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "lowbit_bench: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
