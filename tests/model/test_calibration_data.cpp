// Calibration data: lowbit's CPython-compatible RNG draws what CPython's `random` draws, and the
// calibration windows equal those the reference loaders draw with `random` + `tokenizers`, for a
// token stream (WikiText2 style) and for documents read from gzip JSON Lines (C4 style).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "framework/core/files.h"
#include "framework/data/calibration.h"
#include "framework/data/python_random.h"
#include "framework/data/text_corpus.h"
#include "framework/model/tokenizer.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

std::string cases_dir() { return test::reference_dir() + "/calibration"; }

TEST(PythonRandom, DrawsWhatCPythonDraws) {
  const nlohmann::json j = parse_json_object(read_file(cases_dir() + "/random.json"), "random.json");
  for (auto it = j.begin(); it != j.end(); ++it) {
    PythonRandom r(std::stoull(it.key()));
    for (int64_t v : (*it)["randint_0_9"].get<std::vector<int64_t>>()) EXPECT_EQ(r.randint(0, 9), v) << it.key();
    for (int64_t v : (*it)["randint_0_1e6"].get<std::vector<int64_t>>()) EXPECT_EQ(r.randint(0, 1000000), v) << it.key();
    for (int64_t v : (*it)["randint_5_2pow40"].get<std::vector<int64_t>>())
      EXPECT_EQ(r.randint(5, int64_t{1} << 40), v) << it.key();
    for (const std::string& v : (*it)["getrandbits_64"].get<std::vector<std::string>>())
      EXPECT_EQ(r.getrandbits(64), std::stoull(v)) << it.key();
  }
}

TEST(CalibrationWindows, StreamWindowsEqualTheReferenceLoaders) {
  const nlohmann::json j = parse_json_object(read_file(cases_dir() + "/calibration.json"), "calibration.json");
  const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
  std::string joined;
  for (const std::string& d : read_jsonl_field(cases_dir() + "/docs.json.gz")) joined += (joined.empty() ? "" : "\n\n") + d;
  const std::vector<int32_t> stream = tok.encode(joined);
  for (const char* seed : {"0", "2"}) {
    const CalibrationSet set = sample_stream_windows(stream, 16, 256, std::stoull(seed), "train");
    EXPECT_EQ(set.starts, j["stream"][seed]["starts"].get<std::vector<int64_t>>()) << "seed " << seed;
    const auto ids = j["stream"][seed]["ids"].get<std::vector<std::vector<int64_t>>>();
    for (int64_t s = 0; s < 16; ++s)
      EXPECT_EQ(std::vector<int64_t>(set.ids[s].data_ptr<int64_t>(), set.ids[s].data_ptr<int64_t>() + 256), ids[s]);
  }
}

TEST(CalibrationWindows, DocumentWindowsFromGzipJsonLinesEqualTheReferenceLoaders) {
  const nlohmann::json j = parse_json_object(read_file(cases_dir() + "/calibration.json"), "calibration.json");
  const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
  const std::vector<std::string> docs = read_jsonl_field(cases_dir() + "/docs.json.gz");
  const CalibrationSet set = sample_document_windows(docs, tok, 8, 128, 0, "docs.json.gz");
  EXPECT_EQ(set.docs, j["documents"]["0"]["docs"].get<std::vector<int64_t>>());
  EXPECT_EQ(set.starts, j["documents"]["0"]["starts"].get<std::vector<int64_t>>());
  const auto ids = j["documents"]["0"]["ids"].get<std::vector<std::vector<int64_t>>>();
  for (int64_t s = 0; s < 8; ++s)
    EXPECT_EQ(std::vector<int64_t>(set.ids[s].data_ptr<int64_t>(), set.ids[s].data_ptr<int64_t>() + 128), ids[s]);
}

// AWQ's calibration: short documents in CPython-shuffled order, concatenated, cut into blocks.
TEST(CalibrationWindows, DocumentBlocksEqualTheAwqLoadersProcedure) {
  const nlohmann::json j = parse_json_object(read_file(cases_dir() + "/calibration.json"), "calibration.json");
  const Tokenizer tok = Tokenizer::from_file(test::tiny_model_dir() + "/tokenizer.json");
  const std::vector<std::string> docs = read_jsonl_field(cases_dir() + "/docs.json.gz");
  const CalibrationSet set = sample_document_blocks(docs, tok, 12, 64, 5, "docs.json.gz");
  const auto& want = j.at("blocks");
  EXPECT_EQ(set.docs, want.at("docs").get<std::vector<int64_t>>());
  ASSERT_EQ(set.ids.size(0), static_cast<int64_t>(want.at("ids").size()));
  ASSERT_GT(set.ids.size(0), 0);
  for (int64_t b = 0; b < set.ids.size(0); ++b)
    for (int64_t t = 0; t < 64; ++t)
      ASSERT_EQ(set.ids[b][t].item<int64_t>(), want.at("ids")[b][t].get<int64_t>()) << "block " << b << " token " << t;
}

TEST(CorpusReaders, MalformedJsonLineIsRefusedWithFileAndLine) {
  test::TempDir dir;
  test::write_file(dir.file("c.jsonl"), "{\"text\": \"a\"}\n\n{\"text\": \"b\"\n");
  EXPECT_LOWBIT_ERROR(read_jsonl_field(dir.file("c.jsonl")), {"c.jsonl:3", "not valid JSON"});
  test::write_file(dir.file("d.jsonl"), "{\"title\": \"a\"}\n");
  EXPECT_LOWBIT_ERROR(read_jsonl_field(dir.file("d.jsonl")), {"d.jsonl:1", "'text'"});
  test::write_file(dir.file("e.json.gz"), "not gzip at all");
  EXPECT_THROW(read_jsonl_field(dir.file("e.json.gz")), Error);
}

TEST(CorpusReaders, DocumentsComeFromSeparatorsOrJsonLines) {
  test::TempDir dir;
  test::write_file(dir.file("d.txt"), "first doc\n\n\n\nsecond\nline\n\nthird");
  EXPECT_EQ(read_documents(dir.file("d.txt")), (std::vector<std::string>{"first doc", "second\nline", "third"}));
  test::write_file(dir.file("d.jsonl"), "{\"text\": \"a\\n\\nb\"}\n{\"text\": \"c\"}\n");
  EXPECT_EQ(read_documents(dir.file("d.jsonl")), (std::vector<std::string>{"a\n\nb", "c"}));
}

TEST(CalibrationWindows, TextShorterThanOneWindowIsRefused) {
  EXPECT_LOWBIT_ERROR(sample_stream_windows(std::vector<int32_t>(100, 1), 4, 256, 0, "short.txt"),
                      {"short.txt", "100 tokens", "256"});
}

}  // namespace
}  // namespace lowbit
