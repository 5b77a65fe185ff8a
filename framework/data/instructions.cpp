#include "framework/data/instructions.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/data/text_corpus.h"
#include "framework/model/tokenizer.h"
#include "framework/train/token_windows.h"

namespace lowbit {
namespace {

using nlohmann::json;

InstructionExample example_of(const json& record, const std::string& where) {
  LOWBIT_CHECK(record.is_object(), where, ": not a JSON object");
  InstructionExample e;
  for (const auto& [key, field, required] : {std::tuple{"instruction", &e.instruction, true},
                                             std::tuple{"input", &e.input, false},
                                             std::tuple{"output", &e.output, true}}) {
    const auto it = record.find(key);
    if (it == record.end() || it->is_null()) {
      LOWBIT_CHECK(!required, where, ": field '", key, "' is missing");
      continue;
    }
    LOWBIT_CHECK(it->is_string(), where, ": field '", key, "' must be a string");
    *field = it->get<std::string>();
  }
  return e;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<InstructionExample> read_instructions(const std::string& path) {
  std::vector<InstructionExample> out;
  if (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.gz") || ends_with(path, ".json.gz")) {
    for_each_jsonl_object(path, [&](const json& o, int64_t line) {
      out.push_back(example_of(o, path + ":" + std::to_string(line)));
    });
  } else {
    json doc;
    try {
      doc = json::parse(read_file(path));
    } catch (const json::exception& e) {
      LOWBIT_FAIL(path, ": not valid JSON (", e.what(), "); instruction data is a JSON array or JSON Lines (.jsonl)");
    }
    LOWBIT_CHECK(doc.is_array(), path, ": expected a JSON array of {instruction, input, output} records");
    for (std::size_t i = 0; i < doc.size(); ++i) out.push_back(example_of(doc[i], path + ": record " + std::to_string(i)));
  }
  LOWBIT_CHECK(!out.empty(), path, ": no instruction records");
  return out;
}

std::string alpaca_prompt(const InstructionExample& e) {
  if (e.input.empty())
    return "Below is an instruction that describes a task. Write a response that appropriately completes the "
           "request.\n\n### Instruction:\n" + e.instruction + "\n\n### Response: ";
  return "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
         "response that appropriately completes the request.\n\n### Instruction:\n" + e.instruction +
         "\n\n### Input:\n" + e.input + "\n\n### Response: ";
}

TokenizedExample tokenize_instruction(const Tokenizer& tok, const InstructionExample& e, int32_t bos, int32_t eos,
                                      int64_t source_max, int64_t target_max) {
  // qlora.py tokenizes f"{bos}{prompt}" and f"{output}{eos}" without special tokens and truncates
  // each on the right: the same ids as [bos] + encode(prompt) and encode(output) + [eos], truncated.
  std::vector<int32_t> source{bos};
  for (int32_t id : tok.encode(alpaca_prompt(e), /*add_special_tokens=*/false)) source.push_back(id);
  std::vector<int32_t> target = tok.encode(e.output, /*add_special_tokens=*/false);
  target.push_back(eos);
  source.resize(std::min<std::size_t>(source.size(), static_cast<std::size_t>(source_max)));
  target.resize(std::min<std::size_t>(target.size(), static_cast<std::size_t>(target_max)));
  TokenizedExample out;
  out.source_len = static_cast<int64_t>(source.size());
  out.ids = std::move(source);
  out.ids.insert(out.ids.end(), target.begin(), target.end());
  return out;
}

TokenBatch collate_instructions(const std::vector<const TokenizedExample*>& examples, int32_t pad) {
  LOWBIT_ASSERT(!examples.empty(), "an empty instruction batch");
  int64_t t = 0;
  for (const TokenizedExample* e : examples) t = std::max<int64_t>(t, static_cast<int64_t>(e->ids.size()));
  const int64_t b = static_cast<int64_t>(examples.size());
  at::Tensor inputs = at::full({b, t}, pad, at::kLong);     // [batch, T]
  at::Tensor targets = at::full({b, t}, -100, at::kLong);   // [batch, T]: the label of position i + 1
  int64_t* in = inputs.data_ptr<int64_t>();
  int64_t* tg = targets.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const TokenizedExample& e = *examples[i];
    const int64_t n = static_cast<int64_t>(e.ids.size());
    for (int64_t j = 0; j < n; ++j) in[i * t + j] = e.ids[j];
    for (int64_t j = std::max<int64_t>(e.source_len, 1); j < n; ++j) tg[i * t + j - 1] = e.ids[j];
  }
  TokenBatch out{inputs, targets};
  int64_t real = 0;
  for (const TokenizedExample* e : examples) real += static_cast<int64_t>(e->ids.size());
  out.tokens = real;
  return out;
}

}  // namespace lowbit
