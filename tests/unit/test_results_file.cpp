// results.json accumulates (evaluation/results_file.h): results are kept per (task, settings that
// change the number); a new result replaces one of the same key only; a --limit result never
// replaces a full one; a file of another target or not a results file is refused, untouched.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "evaluation/results_file.h"
#include "framework/core/files.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace lowbit {
namespace {

using json = nlohmann::json;

json evaluation(const json& tasks, int64_t limit = 0, int64_t seq_len = 2048, const std::string& fp = "model-a") {
  return {{"format", "lowbit-results"},
          {"version", 1},
          {"target", {{"model_fingerprint", fp}, {"method", "gptq"}, {"method_config", "bits: 3\n"},
                      {"calibration_fingerprint", "cal"}}},
          {"settings", {{"seq_len", seq_len}, {"limit", limit}, {"c4_windows", 256}, {"c4_seed", 0},
                        {"tokenization", "separate"}, {"mmlu_shots", 5}, {"mmlu_max_tokens", 2048},
                        {"dtype", "float32"}}},
          {"world_size", 1},
          {"seconds", 1.0},
          {"tasks", tasks}};
}

TEST(ResultsFile, OtherTasksAreAddedAndTheSameKeyIsReplaced) {
  json doc = merge_results(nullptr, evaluation({{"wikitext2", {{"perplexity", 7.0}}}}), "r.json");
  doc = merge_results(doc, evaluation({{"piqa", {{"acc", 0.7}}}}), "r.json");
  EXPECT_EQ(doc["tasks"]["wikitext2"]["perplexity"], 7.0);
  EXPECT_EQ(doc["tasks"]["piqa"]["acc"], 0.7);
  doc = merge_results(doc, evaluation({{"wikitext2", {{"perplexity", 6.5}}}}), "r.json");  // same key: replaced
  EXPECT_EQ(doc["tasks"]["wikitext2"]["perplexity"], 6.5);
  EXPECT_EQ(doc["results"].size(), 2u);
  doc = merge_results(doc, evaluation({{"wikitext2", {{"perplexity", 6.0}}}}, 0, 4096), "r.json");  // other seq_len
  EXPECT_EQ(doc["results"].size(), 3u);
}

TEST(ResultsFile, ALimitedResultNeverReplacesAFullOne) {
  json doc = merge_results(nullptr, evaluation({{"wikitext2", {{"perplexity", 7.0}}}}), "r.json");
  doc = merge_results(doc, evaluation({{"wikitext2", {{"perplexity", 9.0}}}}, /*limit=*/2), "r.json");
  EXPECT_EQ(doc["tasks"]["wikitext2"]["perplexity"], 7.0);
  EXPECT_EQ(doc["tasks"]["wikitext2"]["settings"]["limit"], 0);
  EXPECT_EQ(doc["results"].size(), 2u);
  // A limited result alone is shown until a full one exists.
  json lim = merge_results(nullptr, evaluation({{"c4", {{"perplexity", 11.0}}}}, 3), "r.json");
  EXPECT_EQ(lim["tasks"]["c4"]["settings"]["limit"], 3);
}

TEST(ResultsFile, AVersion1FileIsKeptWhenUpgraded) {
  const json old = evaluation({{"ptb", {{"perplexity", 12.0}}}});  // what lowbit wrote before
  const json doc = merge_results(old, evaluation({{"piqa", {{"acc", 0.6}}}}), "r.json");
  EXPECT_EQ(doc["version"], 2);
  EXPECT_EQ(doc["tasks"]["ptb"]["perplexity"], 12.0);
  EXPECT_EQ(doc["tasks"]["piqa"]["acc"], 0.6);
}

TEST(ResultsFile, AnotherTargetOrAForeignFileIsRefusedAndLeftAsItWas) {
  test::TempDir dir;
  const std::string path = dir.file("results.json");
  write_results(path, evaluation({{"wikitext2", {{"perplexity", 7.0}}}}));
  const std::string before = read_file(path);
  EXPECT_LOWBIT_ERROR(write_results(path, evaluation({{"piqa", {{"acc", 0.5}}}}, 0, 2048, "model-b")),
                      {"results.json", "another target", "model_fingerprint", "model-b"});
  EXPECT_LOWBIT_ERROR(check_results_file(path, evaluation({}, 0, 2048, "model-b")["target"]), {"another target"});
  EXPECT_EQ(read_file(path), before);
  test::write_file(path, "{\"something\": 1}");
  EXPECT_LOWBIT_ERROR(write_results(path, evaluation({})), {"results.json", "not a lowbit results file"});
  EXPECT_EQ(read_file(path), "{\"something\": 1}");
}

}  // namespace
}  // namespace lowbit
