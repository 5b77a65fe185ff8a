// Fuzzes reading a rank's HDF5 shard (framework/store/shard.*, hdf5_file.*): format and version,
// the header attributes, the committed blocks, each block's artifacts (datasets with their
// Fletcher32 checksums, attributes) and the dequantization they feed, and the stored statistics.
// The input is the file's bytes (written to a file in memory, /dev/shm, since HDF5 opens by path).
// Seeds: tests/fuzz/make_shard_seeds.cpp writes shards as `lowbit quantize` does.
// HDF5 itself is not instrumented: damage it mishandles internally shows as a crash, not a report.
#include <ATen/ATen.h>

#include "framework/store/shard.h"
#include "tests/fuzz/fuzz_support.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::scratch_dir() / "rank-00000-of-00001.h5";
  fuzz::write_file(path, data, size);
  fuzz::refusing([&] {
    ShardReader r(path.string());
    const ShardHeader& h = r.header();
    (void)h.method.size();
    int n = 0;
    for (int64_t block : r.committed_blocks()) {
      if (++n > 4) break;  // bounded work per input
      fuzz::refusing([&] {
        for (const auto& [module, q] : r.read_block(block).linears) {
          fuzz::require(q.weight.dim() == 2 && q.weight.sizes() == q.tensors.at("codes").sizes(),
                        "dequantized weight does not have the codes' shape");
          (void)q.weight.sum().item<float>();
        }
      });
      fuzz::refusing([&] {
        for (const auto& [name, t] : r.read_stats(block)) (void)t.numel();
      });
    }
  });
  return 0;
}
