#include "framework/train/token_windows.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/core/splitmix.h"
#include "framework/model/tokenizer.h"

namespace lowbit {
namespace {

TokenBatch make_batch(const std::vector<int32_t>& tokens, const std::vector<int64_t>& starts, int64_t seq) {
  const int64_t b = static_cast<int64_t>(starts.size());
  at::Tensor window = at::empty({b, seq + 1}, at::kLong);  // [batch, seq + 1]
  int64_t* p = window.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t t = 0; t <= seq; ++t) p[i * (seq + 1) + t] = tokens[starts[i] + t];
  return {window.narrow(1, 0, seq).contiguous(), window.narrow(1, 1, seq).contiguous()};
}

}  // namespace

std::vector<int32_t> tokenize_file(const Tokenizer& tok, const std::string& path) {
  const std::string text = read_file(path);
  try {
    return tok.encode(text, /*add_special_tokens=*/false);
  } catch (const Error& e) {
    LOWBIT_FAIL(path, ": ", e.what());
  }
}

TrainingWindows::TrainingWindows(std::vector<int32_t> tokens, int64_t seq_len, uint64_t seed, const std::string& origin)
    : tokens_(std::move(tokens)), seq_len_(seq_len), seed_(seed) {
  LOWBIT_CHECK(size() > seq_len_ + 1, origin, ": ", size(), " tokens is too short for one training window of ",
               seq_len_ + 1);
}

TokenBatch TrainingWindows::batch(int64_t step, int64_t micro, int64_t batch) const {
  const uint64_t span = static_cast<uint64_t>(size() - seq_len_);  // valid starts: [0, span)
  std::vector<int64_t> starts(batch);
  for (int64_t i = 0; i < batch; ++i) {
    const uint64_t key = splitmix64(seed_ ^ splitmix64(static_cast<uint64_t>(step) * 1000003u + micro) ^
                                    (static_cast<uint64_t>(i) << 40));
    starts[i] = static_cast<int64_t>(key % span);
  }
  return make_batch(tokens_, starts, seq_len_);
}

std::vector<TokenBatch> heldout_windows(const std::vector<int32_t>& tokens, int64_t seq_len, int64_t count,
                                        int64_t batch, const std::string& origin) {
  const int64_t available = (static_cast<int64_t>(tokens.size()) - 1) / seq_len;
  LOWBIT_CHECK(available >= 1, origin, ": ", tokens.size(), " tokens is shorter than one window of ", seq_len + 1);
  const int64_t n = std::min(count, available);
  std::vector<TokenBatch> out;
  for (int64_t first = 0; first < n; first += batch) {
    std::vector<int64_t> starts;
    for (int64_t i = first; i < std::min(n, first + batch); ++i) starts.push_back(i * seq_len);
    out.push_back(make_batch(tokens, starts, seq_len));
  }
  return out;
}

}  // namespace lowbit
