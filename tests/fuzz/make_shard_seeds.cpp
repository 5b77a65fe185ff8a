// Writes seed shards for fuzz_shard_header into the folder given as argv[1]: small shards written
// by ShardWriter exactly as `lowbit quantize` writes them (one and two committed blocks, with and
// without statistics, a header without blocks), so the fuzzer starts from files the reader accepts.
#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "framework/store/shard.h"
#include "methods/common/artifact_formats.h"
#include "methods/common/uniform_quantizer.h"

using namespace lowbit;

namespace {

QuantizedLinear linear(int64_t out, int64_t in, int bits, int64_t group) {
  const at::Tensor w = at::randn({out, in}, at::TensorOptions().dtype(at::kFloat));
  const GroupedCodes g = quantize_grouped(w, {bits, group, false});
  QuantizedLinear q;
  q.format = "uniform";
  q.bits = bits;
  q.group_size = group;
  q.tensors = {{"codes", g.codes}, {"scale", g.scale}, {"zero", g.zero},
               {"g_idx", at::div(at::arange(in, at::TensorOptions().dtype(at::kInt)), g.group_size, "floor")}};
  finish_artifact(q, "seed");
  q.loss = 0.25;
  return q;
}

QuantizedBlock block(std::map<std::string, QuantizedLinear> linears) {
  QuantizedBlock b;
  b.linears = std::move(linears);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path dir = argv[1];
  fs::create_directories(dir);
  at::manual_seed(0);
  ShardHeader h{"rtn", "name: rtn\nbits: 4\ngroup_size: 4\n", "model-fp", "calib-fp", 0, 1, 0, 2, "0.1.0"};
  {
    const fs::path p = dir / "one-block.h5";
    fs::remove(p);
    ShardWriter w(p.string(), h);
    w.commit_block(0, block({{"mlp.up_proj", linear(4, 8, 4, 4)}}));
  }
  {
    const fs::path p = dir / "two-blocks-stats.h5";
    fs::remove(p);
    ShardWriter w(p.string(), h);
    w.commit_block(0, block({{"self_attn.q_proj", linear(2, 4, 3, 0)}}), {{"attention/hessian", at::eye(4)}});
    // Interface v2: replaced parameters and an activation forward spec beside the linears.
    QuantizedBlock b = block({{"mlp.down_proj", linear(3, 8, 2, 4)}, {"mlp.up_proj", linear(8, 3, 8, 0)}});
    b.parameters["post_attention_layernorm.weight"] = at::rand({3}) + 0.5;
    b.activations.bits = 8;
    b.activations.quantize_qkv_outputs = true;
    w.commit_block(1, b, {{"mlp/abs_max", at::rand({3})}});
  }
  {
    const fs::path p = dir / "header-only.h5";
    fs::remove(p);
    ShardWriter w(p.string(), h);
  }
  return 0;
}
