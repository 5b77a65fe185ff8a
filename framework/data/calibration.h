// Calibration windows (METHODS.md §2), drawn exactly as the reference loaders draw them, with
// CPython's RNG, so the same seed gives the same samples as GPTQ's `get_wikitext2` / `get_c4` for
// the same tokenizer. Built once, before any rank splits work, so every world size sees the same set.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

class Tokenizer;

struct CalibrationSet {
  at::Tensor ids;               // [nsamples, seq_len] int64
  std::vector<int64_t> starts;  // window start of each sample (in the stream, or in its document)
  std::vector<int64_t> docs;    // document of each sample (document sampling), else empty
};

// WikiText2 / PTB style: one token stream (the corpus joined and tokenized once);
// random.seed(seed); per sample start = randint(0, T - seq_len - 1).
CalibrationSet sample_stream_windows(const std::vector<int32_t>& tokens, int64_t nsamples, int64_t seq_len,
                                     uint64_t seed, const std::string& origin);

// C4 style: random.seed(seed); per sample draw documents (randint(0, n - 1)), each tokenized on
// its own, until one has at least seq_len + 1 tokens, then start = randint(0, len - seq_len - 1).
// (The reference accepts exactly seq_len tokens too and then fails on an empty range; lowbit skips
// such a document, which only changes draws where the reference would have crashed.)
CalibrationSet sample_document_windows(const std::vector<std::string>& documents, const Tokenizer& tok,
                                       int64_t nsamples, int64_t seq_len, uint64_t seed, const std::string& origin);

// AWQ style (llm-awq's get_calib_dataset): the documents in a shuffled order (CPython's
// random.shuffle with `seed`; the reference shuffles with Hugging Face datasets' NumPy generator,
// seed 42, so the order differs), each stripped and tokenized on its own with the tokenizer's special
// tokens (BOS), those of 1..seq_len tokens taken until `documents_to_take`, concatenated and cut
// into seq_len-token blocks (the remainder dropped): [total / seq_len, seq_len].
CalibrationSet sample_document_blocks(const std::vector<std::string>& documents, const Tokenizer& tok,
                                      int64_t documents_to_take, int64_t seq_len, uint64_t seed,
                                      const std::string& origin);

}  // namespace lowbit
