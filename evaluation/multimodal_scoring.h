// How lmms-eval scores the study's visual benchmarks (AI2D, ChartQA, DocVQA, MME, MMBench-EN dev),
// on decoded model responses: the same answer extraction and the same arithmetic, so a score here
// equals lmms-eval 0.7.3's on the same responses (tests/reference/test_mm_scoring_vs_lmms_eval.cpp).
// Where lmms-eval's versions differ (DocVQA's ANLS before 0.3) both forms are given;
// docs/multimodal.md says which the report uses and why. Responses are the raw decoded text:
// every scorer strips it first, as lmms-eval's process_results does.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowbit::mm {

// ---- AI2D -----------------------------------------------------------------------------------------
// The task's MultiChoiceRegexFilter (a response starting "X." counts as the letter X), then
// exact_match with ignore_case and ignore_punctuation against the gold letter.
bool ai2d_correct(std::string_view response, std::string_view gold_letter);

// ---- ChartQA --------------------------------------------------------------------------------------
// relaxed_correctness: numbers within 5 % of a non-zero target ("12%" reads as 0.12), otherwise a
// case-insensitive exact match.
bool chartqa_relaxed_correct(std::string_view response, std::string_view target);

// ---- DocVQA ---------------------------------------------------------------------------------------
// ANLS of one question (lmms-eval >= 0.3): 1 - the smallest normalized Levenshtein distance to a
// reference, 0 where that is below 0.5. At least one reference.
double anls(const std::vector<std::string>& references, std::string_view response);
// lmms-eval <= 0.2 scored each reference alone and kept 1 if any scored: the fraction of questions
// answered within distance 0.5 of some reference.
double anls_any_reference(const std::vector<std::string>& references, std::string_view response);

// ---- MME ------------------------------------------------------------------------------------------
enum class YesNo { yes, no, other };
// parse_pred_ans ("from Otter"): "yes"/"no", "y"/"n", else "yes" or "no" within the first four
// characters.
YesNo mme_parse(std::string_view response);
bool mme_is_perception(std::string_view category);

struct MmeAnswer {
  std::string question_id;  // the image: MME asks two questions of each
  std::string category;
  std::string answer;  // "Yes" / "No"
  std::string response;
};
struct MmeScores {
  double perception = 0, cognition = 0;  // sums of the category scores (max 2000 and 800)
  std::vector<std::pair<std::string, double>> categories;  // acc + acc+ per category, max 200
};
// Throws where an image does not have exactly two questions or an answer is not yes/no.
MmeScores mme_scores(const std::vector<MmeAnswer>& answers);

// ---- MMBench --------------------------------------------------------------------------------------
struct MmbenchAnswer {
  int64_t index = 0;  // circular variants of question i are i + k * 1'000'000
  std::string answer;  // the gold letter
  std::string response;
  std::array<std::optional<std::string>, 5> options;  // A..E; nullopt where the dataset has none
  std::string category;
};
// can_infer: the option letter a response names (a lone letter, or one decorated as "B." "(B)"
// ":B" ...), else the one option whose text the response contains; nullopt when neither settles it.
std::optional<char> mmbench_infer(std::string_view response,
                                  const std::array<std::optional<std::string>, 5>& options);

struct MmbenchScores {
  double accuracy = 0;  // percent of questions whose every circular variant was answered right
  int64_t questions = 0;
  int64_t judged_randomly = 0;  // variants no rule could read (see below)
  std::vector<std::pair<std::string, double>> categories;  // hit rate per category, by name
};
// The dev split's circular evaluation (MMBench_Evaluator.eval_result, "openai" mode) as it runs
// when the GPT judge cannot be reached: a variant the rules cannot read gets a random letter of
// A-E from Python's random seeded 2680, drawn in lmms-eval's order. judged_randomly says how many.
MmbenchScores mmbench_circular_scores(const std::vector<MmbenchAnswer>& answers);

}  // namespace lowbit::mm
