// Calling a method on one block in tests: a BlockContext built from the block, its calibration
// inputs (none for data-free methods) and statistics, as the layer loop builds it.
#pragma once

#include <ATen/ATen.h>

#include "framework/calibrate/block_context.h"
#include "methods/method.h"

namespace lowbit::test {

// A data-free method (RTN, ...) on block `b`: no inputs, no statistics.
inline QuantizedBlock quantize_data_free(const Method& m, const BlockWeights& b, const LlamaConfig& c,
                                         int64_t index = 0) {
  static const BlockStatistics none;
  const at::Tensor inputs = at::empty({0, 0, c.hidden_size});
  const RopeTables rope{};
  const BlockContext ctx(index, b, c, inputs, rope, 1, none);
  return m.quantize_block(ctx, LinearSet::all());
}

}  // namespace lowbit::test
