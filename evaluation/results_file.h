// results.json accumulates (docs/evaluation.md, "The results file"): every result is kept under its
// key — the task and the settings that change its number (sequence length, limit, C4 windows and
// seed, tokenization, MMLU shots and prompt limit, the compute dtype) — so evaluating a run with
// other tasks or other settings adds to the file instead of replacing it. A new result replaces an
// old one of the same key only; a `--limit` result has its limit in its key and so never replaces a
// full one. `tasks` shows, per task, the result a table should use: the newest full one, else the
// newest limited one. Results of another target (other model or calibration fingerprint) are
// never mixed in: that is refused, naming both. The file is written atomically.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace lowbit {

// `existing` is the file's document (null when there is none); `fresh` is what evaluate() returned.
// `path` names the file in errors.
nlohmann::json merge_results(const nlohmann::json& existing, const nlohmann::json& fresh, const std::string& path);

// Before an evaluation: throws (naming the file and the key) unless `path` is absent or a results
// file of `target` (evaluate()'s "target" object), so hours of evaluation are not spent on a file
// that will be refused.
void check_results_file(const std::string& path, const nlohmann::json& target);

// Reads `path` if it exists (refusing a damaged or foreign file by name), merges `fresh` in and
// writes the result atomically, holding `path`.lock meanwhile (framework/core/file_lock.h), so
// concurrent evaluations of one target each add their results. Returns the merged document.
nlohmann::json write_results(const std::string& path, const nlohmann::json& fresh);

}  // namespace lowbit
