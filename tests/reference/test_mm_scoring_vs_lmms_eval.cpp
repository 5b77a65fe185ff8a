// evaluation/multimodal_scoring against lmms-eval 0.7.3's own scoring functions on the same
// synthetic responses (make_mm_scoring_cases.py): every decision and every aggregate identical.
// evaluation/visual_tasks' prompts against lmms-eval's doc_to_text functions, and the llava_llama_3
// conversation and its ids against transformers' chat template with LLaVA-NeXT's
// tokenizer_image_token transcribed, on the real Llama 3 tokenizer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "evaluation/multimodal_scoring.h"
#include "evaluation/visual_tasks.h"
#include "framework/model/tokenizer.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

nlohmann::json cases() {
  const std::string path = test::reference_dir() + "/multimodal/scoring.json";
  return parse_json_object(read_file(path), path);
}

std::array<std::optional<std::string>, 5> options_of(const nlohmann::json& list) {
  std::array<std::optional<std::string>, 5> out;
  for (std::size_t k = 0; k < 5; ++k)
    if (!list.at(k).is_null()) out[k] = list.at(k).get<std::string>();
  return out;
}

TEST(MultimodalScoringVsLmmsEval, Ai2dLetters) {
  const nlohmann::json c = cases().at("ai2d");
  ASSERT_GE(c.size(), 20u);
  int correct = 0;
  for (const auto& x : c) {
    const bool expected = x["correct"].get<bool>();
    correct += expected;
    EXPECT_EQ(mm::ai2d_correct(x["response"].get<std::string>(), x["gold"].get<std::string>()), expected)
        << "response \"" << x["response"].get<std::string>() << "\", gold " << x["gold"].get<std::string>();
  }
  EXPECT_GT(correct, 3);  // both outcomes are exercised
  EXPECT_LT(correct, static_cast<int>(c.size()) - 3);
}

TEST(MultimodalScoringVsLmmsEval, ChartqaRelaxedCorrectness) {
  const nlohmann::json c = cases().at("chartqa");
  ASSERT_GE(c.size(), 30u);
  for (const auto& x : c)
    EXPECT_EQ(mm::chartqa_relaxed_correct(x["response"].get<std::string>(), x["target"].get<std::string>()),
              x["correct"].get<bool>())
        << "response \"" << x["response"].get<std::string>() << "\", target \"" << x["target"].get<std::string>() << "\"";
}

TEST(MultimodalScoringVsLmmsEval, DocvqaAnlsBothForms) {
  const nlohmann::json all = cases();
  const nlohmann::json& c = all.at("docvqa");
  ASSERT_GE(c.size(), 40u);
  double sum = 0, sum_any = 0;
  int partial = 0;
  for (const auto& x : c) {
    const auto refs = x["references"].get<std::vector<std::string>>();
    const std::string response = x["response"].get<std::string>();
    const double score = mm::anls(refs, response), any = mm::anls_any_reference(refs, response);
    EXPECT_EQ(score, x["anls"].get<double>()) << response;
    EXPECT_EQ(any, x["anls_any_reference"].get<double>()) << response;
    partial += score > 0 && score < 1;
    sum += score;
    sum_any += any;
  }
  EXPECT_GT(partial, 3);  // the threshold and partial credit are exercised
  // lmms-eval's mean aggregation: sum in order, then one division.
  EXPECT_EQ(sum / static_cast<double>(c.size()), all.at("docvqa_mean").get<double>());
  EXPECT_EQ(sum_any / static_cast<double>(c.size()), all.at("docvqa_any_reference_mean").get<double>());
  EXPECT_THROW(mm::anls({}, "x"), Error);
}

TEST(MultimodalScoringVsLmmsEval, MmeParsingAndPairScores) {
  const nlohmann::json c = cases().at("mme");
  for (const auto& x : c.at("parse")) {
    const mm::YesNo got = mm::mme_parse(x["response"].get<std::string>());
    const std::string label = got == mm::YesNo::yes ? "yes" : got == mm::YesNo::no ? "no" : "other";
    EXPECT_EQ(label, x["label"].get<std::string>()) << "response \"" << x["response"].get<std::string>() << "\"";
  }
  std::vector<mm::MmeAnswer> answers;
  for (const auto& x : c.at("items"))
    answers.push_back({x["question_id"].get<std::string>(), x["category"].get<std::string>(),
                       x["answer"].get<std::string>(), x["response"].get<std::string>()});
  const mm::MmeScores s = mm::mme_scores(answers);
  EXPECT_EQ(s.perception, c.at("perception").get<double>());
  EXPECT_EQ(s.cognition, c.at("cognition").get<double>());
  answers.pop_back();  // an image left with one question
  EXPECT_THROW(mm::mme_scores(answers), Error);
}

TEST(MultimodalScoringVsLmmsEval, MmbenchInferenceAndCircularEvaluation) {
  const nlohmann::json c = cases().at("mmbench");
  for (const auto& x : c.at("infer")) {
    const std::optional<char> got = mm::mmbench_infer(x["response"].get<std::string>(), options_of(x["options"]));
    const std::string expected = x["letter"].is_null() ? "" : x["letter"].get<std::string>();
    EXPECT_EQ(got ? std::string(1, *got) : "", expected) << "response \"" << x["response"].get<std::string>() << "\"";
  }
  std::vector<mm::MmbenchAnswer> answers;
  for (const auto& x : c.at("items"))
    answers.push_back({x["index"].get<int64_t>(), x["answer"].get<std::string>(), x["response"].get<std::string>(),
                       options_of(x["options"]), x["category"].get<std::string>()});
  const mm::MmbenchScores s = mm::mmbench_circular_scores(answers);
  EXPECT_EQ(s.accuracy, c.at("accuracy").get<double>());
  EXPECT_EQ(s.judged_randomly, c.at("judged_randomly").get<int64_t>());
  ASSERT_EQ(s.categories.size(), c.at("categories").size());
  for (const auto& [name, rate] : s.categories) EXPECT_EQ(rate, c.at("categories").at(name).get<double>()) << name;
}

TEST(MultimodalScoringVsLmmsEval, TaskPromptsAreLmmsEvalsDocToText) {
  const nlohmann::json c = cases().at("prompts");
  ASSERT_GE(c.size(), 10u);
  for (const auto& x : c)
    EXPECT_EQ(visual_prompt(x["task"].get<std::string>(), x["doc"]), x["prompt"].get<std::string>())
        << x["task"].get<std::string>() << ": " << x["doc"].dump();
}

TEST(MultimodalScoringVsLmmsEval, ConversationAndIdsAreLlavaLlama3s) {
  const Tokenizer tok = Tokenizer::from_file(LOWBIT_TEST_LLAMA3_TOKENIZER);
  const nlohmann::json c = cases().at("conversations");
  ASSERT_GE(c.size(), 2u);
  for (const auto& x : c) {
    const std::string conversation = llava_llama3_conversation(x["prompt"].get<std::string>());
    EXPECT_EQ(conversation, x["conversation"].get<std::string>());
    EXPECT_EQ(llava_prompt_ids(tok, conversation, 128000, x["image_token"].get<int32_t>(), x["image_tokens"].get<int64_t>()),
              x["ids"].get<std::vector<int32_t>>());
  }
}

}  // namespace
}  // namespace lowbit
