// Every committed block's artifacts of a run directory, by block (from its manifest's shards), for
// tests that compare runs; each shard's world size must be the manifest's.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "framework/core/files.h"
#include "framework/store/shard.h"
#include "methods/method.h"

namespace lowbit::test {

inline std::map<int64_t, QuantizedBlock> blocks_of(const std::string& run) {
  const nlohmann::json m = parse_json_object(read_file(run + "/manifest.json"), run + "/manifest.json");
  std::map<int64_t, QuantizedBlock> out;
  for (const auto& s : m.at("shards")) {
    const ShardReader r(run + "/" + s.at("file").get<std::string>());
    EXPECT_EQ(r.header().world_size, m.at("world_size").get<int64_t>()) << r.path();
    for (int64_t b : r.committed_blocks()) out[b] = r.read_block(b);
  }
  return out;
}

// Runs `a` and `b` (directories) both hold `blocks` blocks, with bitwise identical artifacts,
// replaced parameters and forward specs.
inline void expect_identical_runs(const std::string& a, const std::string& b, int64_t blocks) {
  const auto x = blocks_of(a), y = blocks_of(b);
  ASSERT_EQ(static_cast<int64_t>(x.size()), blocks) << a;
  ASSERT_EQ(static_cast<int64_t>(y.size()), blocks) << b;
  for (const auto& [block, qb] : x) {
    for (const auto& [module, q] : qb.linears)
      for (const auto& [name, t] : q.tensors)
        EXPECT_TRUE(at::equal(t, y.at(block).linears.at(module).tensors.at(name)))
            << a << " vs " << b << ": block " << block << " " << module << " " << name;
    ASSERT_EQ(qb.parameters.size(), y.at(block).parameters.size()) << a << " vs " << b << ": block " << block;
    for (const auto& [name, t] : qb.parameters)
      EXPECT_TRUE(at::equal(t, y.at(block).parameters.at(name))) << a << " vs " << b << ": block " << block << " " << name;
    EXPECT_TRUE(qb.activations == y.at(block).activations) << a << " vs " << b << ": block " << block;
  }
}

}  // namespace lowbit::test
