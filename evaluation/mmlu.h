// MMLU in the original Hendrycks format as IR-QLoRA's evaluate_mmlu.py runs it (METHODS.md §3.3):
// per subject, k dev examples as shots under "The following are multiple choice questions (with
// answers) about <subject>.", the question with "A. .. D." and "Answer:", shots dropped one by one
// while the prompt exceeds the token limit; the prediction is the highest logit among the tokens
// "A", "B", "C", "D" after the prompt. Subject, subcategory, category and overall accuracies are
// question-weighted.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lowbit {

struct MmluQuestion {
  std::string subject;               // e.g. "abstract_algebra"
  std::string question;
  std::vector<std::string> choices;  // 4
  int64_t answer = 0;                // 0..3
};

// Reads a JSONL / .json.gz file in the Hugging Face cais/mmlu schema (question, subject, choices,
// answer as 0..3); errors name file:line.
std::vector<MmluQuestion> read_mmlu(const std::string& path);

// The few-shot prompt for `q` with the first `shots` of `dev` (all of the same subject).
std::string mmlu_prompt(const MmluQuestion& q, const std::vector<const MmluQuestion*>& dev, int64_t shots);

// Hendrycks' subject -> subcategory and subcategory -> category tables (57 subjects, 4 categories:
// STEM, humanities, social sciences, other). Unknown subjects are refused by the evaluator.
const std::map<std::string, std::string>& mmlu_subcategory();
std::string mmlu_category(const std::string& subcategory);

}  // namespace lowbit
