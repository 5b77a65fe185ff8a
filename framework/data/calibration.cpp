#include "framework/data/calibration.h"

#include <ATen/ATen.h>

#include "framework/core/error.h"
#include "framework/data/python_random.h"
#include "framework/model/tokenizer.h"

namespace lowbit {

CalibrationSet sample_stream_windows(const std::vector<int32_t>& tokens, int64_t nsamples, int64_t seq_len,
                                     uint64_t seed, const std::string& origin) {
  const int64_t T = static_cast<int64_t>(tokens.size());
  LOWBIT_CHECK(nsamples >= 1 && seq_len >= 1, origin, ": calibration needs nsamples >= 1 and seq_len >= 1");
  LOWBIT_CHECK(T > seq_len, origin, ": ", T, " tokens is too short for calibration windows of ", seq_len);
  PythonRandom rng(seed);
  CalibrationSet set;
  set.ids = at::empty({nsamples, seq_len}, at::kLong);
  int64_t* out = set.ids.data_ptr<int64_t>();
  for (int64_t s = 0; s < nsamples; ++s) {
    const int64_t start = rng.randint(0, T - seq_len - 1);
    set.starts.push_back(start);
    for (int64_t t = 0; t < seq_len; ++t) out[s * seq_len + t] = tokens[start + t];
  }
  return set;
}

CalibrationSet sample_document_windows(const std::vector<std::string>& documents, const Tokenizer& tok,
                                       int64_t nsamples, int64_t seq_len, uint64_t seed, const std::string& origin) {
  LOWBIT_CHECK(!documents.empty(), origin, ": no documents to calibrate on");
  LOWBIT_CHECK(nsamples >= 1 && seq_len >= 1, origin, ": calibration needs nsamples >= 1 and seq_len >= 1");
  PythonRandom rng(seed);
  CalibrationSet set;
  set.ids = at::empty({nsamples, seq_len}, at::kLong);
  int64_t* out = set.ids.data_ptr<int64_t>();
  const int64_t n = static_cast<int64_t>(documents.size());
  const int64_t max_draws = 1000 * nsamples + 100000;  // a corpus of short documents must not hang
  int64_t draws = 0;
  for (int64_t s = 0; s < nsamples; ++s) {
    std::vector<int32_t> ids;
    int64_t doc = 0;
    do {
      LOWBIT_CHECK(++draws <= max_draws, origin, ": found too few documents of more than ", seq_len,
                   " tokens (", draws - 1, " draws); use a shorter seq_len or another corpus");
      doc = rng.randint(0, n - 1);
      try {
        ids = tok.encode(documents[doc]);
      } catch (const Error& e) {
        LOWBIT_FAIL(origin, ": document ", doc, ": ", e.what());
      }
    } while (static_cast<int64_t>(ids.size()) <= seq_len);
    const int64_t start = rng.randint(0, static_cast<int64_t>(ids.size()) - seq_len - 1);
    set.starts.push_back(start);
    set.docs.push_back(doc);
    for (int64_t t = 0; t < seq_len; ++t) out[s * seq_len + t] = ids[start + t];
  }
  return set;
}

CalibrationSet sample_document_blocks(const std::vector<std::string>& documents, const Tokenizer& tok,
                                      int64_t documents_to_take, int64_t seq_len, uint64_t seed,
                                      const std::string& origin) {
  LOWBIT_CHECK(!documents.empty(), origin, ": no documents to calibrate on");
  LOWBIT_CHECK(documents_to_take >= 1 && seq_len >= 1, origin, ": calibration needs nsamples >= 1 and seq_len >= 1");
  // random.shuffle: for i from n-1 down to 1, swap i with randbelow(i + 1).
  std::vector<int64_t> order(documents.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  PythonRandom rng(seed);
  for (std::size_t i = order.size() - 1; i >= 1; --i) std::swap(order[i], order[rng.randbelow(i + 1)]);
  std::vector<int32_t> all;
  CalibrationSet set;
  int64_t taken = 0;
  for (int64_t doc : order) {
    std::string text = documents[doc];
    const auto first = text.find_first_not_of(" \t\n\r\f\v"), last = text.find_last_not_of(" \t\n\r\f\v");
    text = first == std::string::npos ? "" : text.substr(first, last - first + 1);  // str.strip()
    std::vector<int32_t> ids;
    try {
      ids = tok.encode(text);
    } catch (const Error& e) {
      LOWBIT_FAIL(origin, ": document ", doc, ": ", e.what());
    }
    if (ids.empty() || static_cast<int64_t>(ids.size()) > seq_len) continue;
    set.docs.push_back(doc);
    all.insert(all.end(), ids.begin(), ids.end());
    if (++taken == documents_to_take) break;
  }
  const int64_t blocks = static_cast<int64_t>(all.size()) / seq_len;
  LOWBIT_CHECK(blocks >= 1, origin, ": the ", taken, " documents of at most ", seq_len, " tokens hold ", all.size(),
               " tokens, less than one block of ", seq_len);
  set.ids = at::empty({blocks, seq_len}, at::kLong);
  int64_t* out = set.ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < blocks * seq_len; ++i) out[i] = all[i];
  for (int64_t b = 0; b < blocks; ++b) set.starts.push_back(b * seq_len);
  return set;
}

}  // namespace lowbit
