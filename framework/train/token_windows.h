// Token streams for causal-LM training and held-out loss: a text file tokenized once, training
// windows drawn at offsets that depend only on (seed, step, index) — so a resumed run draws exactly
// the windows an uninterrupted one would — and fixed non-overlapping held-out windows.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

class Tokenizer;

// Tokenizes a whole text file (no special tokens added).
std::vector<int32_t> tokenize_file(const Tokenizer& tok, const std::string& path);

// inputs [batch, seq] and next-token targets [batch, seq], int64; a target of -100 carries no loss
// (a prompt token or padding in instruction tuning).
struct TokenBatch {
  at::Tensor inputs;
  at::Tensor targets;
  int64_t tokens = -1;  // real (unpadded) input tokens; -1: every input is real
  uint64_t key = 0;     // identifies the batch in its run (seeds adapter dropout's masks)
};

class TrainingWindows {
 public:
  TrainingWindows(std::vector<int32_t> tokens, int64_t seq_len, uint64_t seed, const std::string& origin);
  // Micro-batch `micro` of optimizer step `step`: `batch` windows of seq_len + 1 tokens.
  TokenBatch batch(int64_t step, int64_t micro, int64_t batch) const;
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }

 private:
  std::vector<int32_t> tokens_;
  int64_t seq_len_;
  uint64_t seed_;
};

// The first `count` non-overlapping windows of `tokens` (window i covers tokens
// [i*seq, i*seq + seq], its last token only as a target), as batches of at most `batch`.
std::vector<TokenBatch> heldout_windows(const std::vector<int32_t>& tokens, int64_t seq_len, int64_t count,
                                        int64_t batch, const std::string& origin);

}  // namespace lowbit
