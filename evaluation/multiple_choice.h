// Zero-shot multiple-choice tasks with lm-evaluation-harness's definitions (METHODS.md §3.2): a
// task is a data file in the Hugging Face schema plus a formatter that turns one JSON document into
// the (context, continuation) pairs the harness scores — no task has a code path of its own.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lowbit {

// One document as the harness scores it: choice i is the continuation continuations[i] after
// contexts[i] (one shared context, or one per choice for Winogrande's partial evaluation).
struct McDoc {
  std::vector<std::string> contexts;       // 1 or one per choice
  std::vector<std::string> continuations;  // one per choice, with the target delimiter " "
  std::vector<int64_t> choice_chars;       // len(choice) in code points: acc_norm's divisor
  int64_t gold = 0;
  const std::string& context(std::size_t choice) const { return contexts.size() == 1 ? contexts[0] : contexts[choice]; }
};

struct McTask {
  std::string name;       // piqa, arc_easy, arc_challenge, hellaswag, winogrande
  std::string data_file;  // under the data directory, e.g. "piqa/validation.jsonl"
  std::string split;      // the split the study evaluates
  bool acc_norm = true;   // the harness reports acc_norm too
  // One JSON document -> McDoc; `where` ("file:line") prefixes every error.
  std::function<McDoc(const nlohmann::json& doc, const std::string& where)> format;
};

const std::vector<McTask>& multiple_choice_tasks();
const McTask* find_multiple_choice_task(const std::string& name);  // nullptr if unknown

// The task's documents from `path` (JSONL / .json.gz), the first `limit` if limit > 0.
std::vector<McDoc> load_multiple_choice(const McTask& task, const std::string& path, int64_t limit = 0);

// HellaSwag's text cleanup (lm-eval's hellaswag/utils.py `preprocess`): strip, " [title]" -> ". ",
// bracketed spans removed, double spaces halved.
std::string hellaswag_preprocess(const std::string& text);

}  // namespace lowbit
