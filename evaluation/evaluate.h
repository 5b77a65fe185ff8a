// `lowbit eval`: the study's evaluation (METHODS.md §3) of a model or a quantized run, over the
// pipeline: perplexity (wikitext2, ptb, c4), zero-shot multiple choice (piqa, arc_easy,
// arc_challenge, hellaswag, winogrande) and 5-shot MMLU. Data is read from local files in the
// Hugging Face schemas (docs/evaluation.md); launch/prepare_data.py exports them. On a LLaVA-NeXT
// model also the visual benchmarks (ai2d, chartqa, docvqa, mmbench_en, mme) by greedy generation
// (docs/multimodal.md; launch/prepare_multimodal.py prepares their questions and pixels).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lowbit {

class Communicator;
struct EvalTarget;

struct EvalSettings {
  std::vector<std::string> tasks;
  std::string data_dir = "data/eval";
  std::map<std::string, std::string> data_files;  // task -> file, overriding data_dir's layout
  int64_t seq_len = 2048;       // perplexity window
  int64_t limit = 0;            // > 0: at most this many windows / documents / questions per subject
  int64_t micro_batch = 4;
  int64_t c4_windows = 256;     // METHODS.md §3.1
  uint64_t c4_seed = 0;
  std::string tokenization = "separate";  // "separate" (the study's harness v0.3) or "joint" (lm-eval 0.4)
  int64_t mmlu_shots = 5;
  int64_t mmlu_max_tokens = 2048;  // shots are dropped until the prompt fits
  std::string device = "auto";     // auto | cpu | cuda (docs/devices.md)
  std::string backend = "auto";    // auto | mpi | nccl: how hidden states travel between ranks
  bool share_contexts = true;      // a multiple-choice question's context runs once (pipeline_scorer)
  bool log_samples = false;        // visual tasks: keep every response in the results
};

// Every task name lowbit knows, in the paper's column order.
const std::vector<std::string>& known_eval_tasks();

// The data file a task reads under `settings` (an override, else its place under data_dir); MMLU's
// dev file is the same name with "test" -> "dev".
std::string eval_data_file(const EvalSettings& settings, const std::string& task);

// The "target" object of a results document: what was evaluated (path, model and its fingerprint,
// the run's method, method config and calibration fingerprint).
nlohmann::json target_json(const EvalTarget& target);

// Collective: every rank calls it. Returns the results document on rank 0 (null elsewhere).
nlohmann::json evaluate(const EvalTarget& target, const EvalSettings& settings, Communicator& comm);

// The one-table summary in the paper's column order: WikiText2 C4 PTB | PIQA ARC-e ARC-c HellaSwag
// Wino Avg (| MMLU when present), one row per results document.
std::string summary_table(const std::vector<nlohmann::json>& results);

}  // namespace lowbit
