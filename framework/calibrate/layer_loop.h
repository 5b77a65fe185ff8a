// The per-rank layer loop (DESIGN.md "The one data flow", step 5): for each block this rank owns,
// collect the statistics the method declares from the block's inputs, quantize the block with the
// method, commit it to the shard, and produce the block's outputs for the next block — through the
// quantized block (`propagation: quantized`, GPTQ's protocol) or the original one
// (`full_precision`). A block already committed in the shard (a resumed run) is read back instead
// of recomputed, so a resumed run ends with the same shard as an uninterrupted one.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/model/llama_forward.h"
#include "framework/model/llama_weights.h"
#include "methods/method.h"

namespace lowbit {

class ShardWriter;
class ShardReader;
class StatisticsCache;

struct LayerLoopOptions {
  bool quantized_propagation = true;
  int64_t micro_batch = 1;       // sequences per forward; fixed so results do not depend on world size
  bool keep_hessians = false;    // also store the Hessians in the shard's /stats
  // Full-precision propagation only: statistics read from / stored to this cache (may be null).
  const StatisticsCache* statistics_cache = nullptr;
  // Receives the last block's outputs micro-batch by micro-batch, as they are computed (the
  // pipeline streams them to the next rank); may be empty.
  std::function<void(const at::Tensor&)> on_output_chunk;
};

struct BlockReport {  // for progress output
  int64_t block = 0;
  bool resumed = false;  // read back from the shard, not recomputed
  double seconds = 0;
};

// Runs block `b` over all sequences of hidden [N, L, hidden] in micro-batches of `micro`;
// `on_chunk` (if any) sees each micro-batch's outputs [n, L, hidden] as soon as they exist.
at::Tensor forward_block(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& hidden, const RopeTables& rope,
                         int64_t micro, const LinearInputObserver& observe = nullptr,
                         const std::function<void(const at::Tensor&)>& on_chunk = nullptr);

// The statistics needs.statistics of the linear inputs `inputs` (METHODS.md §1.3 for the Hessian;
// abs-max / abs-mean per channel over every token, accumulated in fp32 micro-batch by micro-batch),
// from one pass of `b` over `hidden` [N, L, hidden]; none asked: no pass.
BlockStatistics gather_block_statistics(const BlockWeights& b, const LlamaConfig& c, const at::Tensor& hidden,
                                        const RopeTables& rope, int64_t micro, const std::vector<LinearInput>& inputs,
                                        const MethodNeeds& needs);

// Quantizes one block with `method` from the block's inputs `hidden` [N, L, hidden], gathering the
// statistics the method declares and handing it a BlockContext; with true_sequential (GPTQ's
// --true-sequential) group by group -- q/k/v, o, gate/up, down -- each group's statistics taken with
// the groups before it quantized. Statistics to keep in the shard (the channel vectors; Hessians
// with options.keep_hessians) are added to `kept`. `block_index` keys the statistics cache.
QuantizedBlock calibrate_block(int64_t block_index, const BlockWeights& block, const LlamaConfig& c,
                               const at::Tensor& hidden, const RopeTables& rope, const Method& method,
                               const LayerLoopOptions& options, std::map<std::string, at::Tensor>& kept);

// `w` holds this rank's blocks (w.first_block ...); `hidden` [N, L, hidden] are the inputs of its
// first block, on the blocks' device, in the activations' dtype (fp32 on CPU; the model's dtype on
// CUDA unless float32 was asked for). Pass it by std::move: each block's inputs are freed as soon as
// its outputs exist. Returns the outputs of its last block. `stop_after_block` >= 0 ends the loop
// after committing that block (tests simulate a killed rank with it).
at::Tensor run_layer_loop(LlamaWeights& w, at::Tensor hidden, const Method& method, ShardWriter& shard,
                          const std::string& shard_path, const LayerLoopOptions& options,
                          const std::function<void(const BlockReport&)>& progress, int64_t stop_after_block = -1);

}  // namespace lowbit
