#include "evaluation/results_file.h"
#include "evaluation/visual_tasks.h"

#include <filesystem>

#include "framework/core/error.h"
#include "framework/core/file_lock.h"
#include "framework/core/files.h"

namespace lowbit {

using json = nlohmann::json;

namespace {

// The settings that change a task's number (not micro-batch or world size, which only reorder
// floating-point work, nor the time it took).
json key_settings(const std::string& task, const json& s) {
  json k = {{"limit", s.value("limit", 0)}, {"dtype", s.value("dtype", "float32")}};
  if (task == "wikitext2" || task == "ptb" || task == "c4") {
    k["seq_len"] = s.at("seq_len");
    if (task == "c4") k["c4_windows"] = s.at("c4_windows"), k["c4_seed"] = s.at("c4_seed");
  } else if (task == "mmlu") {
    k["mmlu_shots"] = s.at("mmlu_shots");
    k["mmlu_max_tokens"] = s.at("mmlu_max_tokens");
  } else if (find_visual_task(task)) {
    // greedy generation: the prompts and budgets are the task's own
  } else {
    k["tokenization"] = s.at("tokenization");
  }
  return k;
}

// The target fields that say which model and which quantized run the numbers belong to.
json identity(const json& target) {
  return {{"model_fingerprint", target.value("model_fingerprint", "")},
          {"method", target.value("method", "")},
          {"method_config", target.value("method_config", "")},
          {"calibration_fingerprint", target.value("calibration_fingerprint", "")},
          {"finetune_fingerprint", target.value("finetune_fingerprint", "")}};
}

// Per task, the entry a table should use: the newest full result, else the newest limited one.
json preferred_by_task(const json& entries) {
  json tasks = json::object();
  for (const json& e : entries) {  // in order of writing: later ones win
    const std::string t = e.at("task");
    const bool full = e.at("settings").value("limit", 0) == 0;
    const bool have_full = tasks.contains(t) && tasks[t].at("settings").value("limit", 0) == 0;
    if (full || !have_full) tasks[t] = e.at("result"), tasks[t]["settings"] = e.at("settings");
  }
  return tasks;
}

// The entries already in the file, after checking that it is a results file of `target`.
json existing_entries(const json& existing, const json& target, const std::string& path) {
  json entries = json::array();
  if (!existing.is_null()) {
    LOWBIT_CHECK(existing.is_object() && existing.value("format", "") == "lowbit-results", path,
                 ": not a lowbit results file (key 'format' is not \"lowbit-results\"); refusing to overwrite it");
    LOWBIT_CHECK(existing.contains("target"), path, ": missing key 'target'");
    const json was = identity(existing["target"]), now = identity(target);
    for (const auto& [k, v] : now.items())
      LOWBIT_CHECK(was[k] == v, path, ": holds results of another target (key 'target.", k, "' is ", was[k].dump(),
                   ", this evaluation's is ", v.dump(), "); move the file away or pass --out");
    if (existing.value("version", 1) >= 2) {
      LOWBIT_CHECK(existing.contains("results") && existing["results"].is_array(), path, ": missing key 'results'");
      entries = existing["results"];
    } else {  // version 1: one evaluation's tasks, under that evaluation's settings
      const json s = existing.value("settings", json::object()), tasks = existing.value("tasks", json::object());
      for (const auto& [task, r] : tasks.items())
        entries.push_back({{"task", task}, {"settings", key_settings(task, s)}, {"result", r}});
    }
  }
  return entries;
}

json read_existing(const std::string& path) {
  return std::filesystem::exists(path) ? parse_json_object(read_file(path), path) : json();
}

}  // namespace

json merge_results(const json& existing, const json& fresh, const std::string& path) {
  json entries = existing_entries(existing, fresh.at("target"), path);
  for (const auto& [task, r] : fresh.at("tasks").items()) {
    const json key = key_settings(task, fresh.at("settings"));
    json kept = json::array();
    for (const json& e : entries)  // the same key only is replaced
      if (!(e.at("task") == task && e.at("settings") == key)) kept.push_back(e);
    kept.push_back({{"task", task}, {"settings", key}, {"result", r}});
    entries = std::move(kept);
  }
  json out = fresh;
  out["version"] = 2;
  out["results"] = entries;
  out["tasks"] = preferred_by_task(entries);
  out["last_evaluation"] = {{"settings", fresh.at("settings")}, {"world_size", fresh.value("world_size", 0)},
                            {"seconds", fresh.value("seconds", 0.0)}};
  out.erase("settings");
  out.erase("world_size");
  out.erase("seconds");
  return out;
}

void check_results_file(const std::string& path, const json& target) { existing_entries(read_existing(path), target, path); }

json write_results(const std::string& path, const json& fresh) {
  // Two evaluations finishing together (a sweep evaluating tasks in parallel) must not lose one's
  // results: the read-merge-write holds a lock, waiting briefly for the other's update.
  const FileLock lock(path + ".lock", "lowbit eval (results update)", /*wait_seconds=*/60);
  const json merged = merge_results(read_existing(path), fresh, path);
  write_file_atomic(path, merged.dump(2) + "\n");
  return merged;
}

}  // namespace lowbit
