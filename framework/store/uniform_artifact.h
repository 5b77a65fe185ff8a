// Checks that a "uniform" artifact (integer codes + per-(row, group) scale and zero + g_idx, see
// docs/shard-format.md) is what its attributes say and decodes to finite weights: the tensors'
// types and shapes agree with each other and with @shape, @bits and @group_size; every code and
// zero point lies in [0, 2^bits - 1]; scales are finite and positive; g_idx names existing groups.
// Applied before a block is committed and whenever one is read, so a shard whose codes were
// altered (0xFF in a 3-bit shard) is refused rather than decoded into plausible wrong weights.
#pragma once

#include <string>

#include "methods/method.h"

namespace lowbit {

// `where` names the artifact in errors ("FILE: /blocks/3/mlp.up_proj").
void check_uniform_artifact(const QuantizedLinear& q, const std::string& where);

}  // namespace lowbit
