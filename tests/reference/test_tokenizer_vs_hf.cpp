// lowbit's tokenizer against Hugging Face `tokenizers` on the real Llama 3 vocabulary: the cases
// make_tokenizer_cases.py recorded (≈400 texts of every kind, two post-processor/pre-tokenizer
// variants, a 3 MB text) must give identical ids, and decoding must give back the same text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/model/tokenizer.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

std::string cases_dir() { return (fs::path(test::reference_dir()) / "tokenizer").string(); }

std::string show(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += (c < 0x20 || c == 0x7f) ? "\\x" + std::to_string(c) : std::string(1, char(c));
  return out;
}

// Checks every case of a cases.json written by make_tokenizer_cases.py; returns how many ran.
int check_cases(const Tokenizer& tok, const std::string& cases_path) {
  std::ifstream in(cases_path);
  const nlohmann::json j = nlohmann::json::parse(in);
  int n = 0;
  for (const auto& c : j.at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    const std::vector<int32_t> expected = c.at("ids").get<std::vector<int32_t>>();
    const std::vector<int32_t> ids = tok.encode(text);
    EXPECT_EQ(ids, expected) << "text: \"" << show(text) << "\"";
    EXPECT_EQ(tok.decode(expected), c.at("decoded").get<std::string>()) << "text: \"" << show(text) << "\"";
    const auto pieces = c.at("pieces").get<std::vector<std::string>>();
    for (std::size_t i = 0; i < expected.size(); ++i)
      EXPECT_EQ(tok.decode({expected[i]}), pieces[i]) << "id " << expected[i] << " of \"" << show(text) << "\"";
    ++n;
  }
  return n;
}

TEST(TokenizerVsHuggingFace, Llama3VocabularyGivesIdenticalIdsOnEveryCase) {
  const Tokenizer tok = Tokenizer::from_file(test::llama3_tokenizer());
  EXPECT_GE(check_cases(tok, cases_dir() + "/cases.json"), 300);
}

TEST(TokenizerVsHuggingFace, DecodingTheIdsGivesBackTheText) {
  const Tokenizer tok = Tokenizer::from_file(test::llama3_tokenizer());
  std::ifstream in(cases_dir() + "/cases.json");
  for (const auto& c : nlohmann::json::parse(in).at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    EXPECT_EQ(tok.decode(tok.encode(text)), text) << show(text);
  }
}

TEST(TokenizerVsHuggingFace, KnownEncodingOfHelloWorld) {
  const Tokenizer tok = Tokenizer::from_file(test::llama3_tokenizer());
  EXPECT_EQ(tok.encode("Hello, world!"), (std::vector<int32_t>{9906, 11, 1917, 0}));
  EXPECT_EQ(tok.size(), 128256);
}

TEST(TokenizerVsHuggingFace, TemplatePostProcessorPutsBeginOfTextFirst) {
  const Tokenizer tok = Tokenizer::from_file(cases_dir() + "/bos/tokenizer.json");
  EXPECT_EQ(tok.prefix_ids(), (std::vector<int32_t>{128000}));
  EXPECT_GE(check_cases(tok, cases_dir() + "/bos/cases.json"), 30);
  EXPECT_EQ(tok.encode("Hello", /*add_special_tokens=*/false).front(), 9906);
}

TEST(TokenizerVsHuggingFace, Gpt2StyleByteLevelPreTokenizerMatches) {
  const Tokenizer tok = Tokenizer::from_file(cases_dir() + "/gpt2style/tokenizer.json");
  EXPECT_GE(check_cases(tok, cases_dir() + "/gpt2style/cases.json"), 100);
}

TEST(TokenizerVsHuggingFace, MultiMegabyteTextGivesIdenticalIdsAndRoundTrips) {
  const Tokenizer tok = Tokenizer::from_file(test::llama3_tokenizer());
  const std::string text = test::read_file(cases_dir() + "/big.txt");
  const std::string raw = test::read_file(cases_dir() + "/big.ids");
  ASSERT_GE(text.size(), 2u << 20);
  std::vector<int32_t> expected(raw.size() / 4);
  std::memcpy(expected.data(), raw.data(), expected.size() * 4);  // little endian, as written
  const std::vector<int32_t> ids = tok.encode(text);
  ASSERT_EQ(ids.size(), expected.size());
  std::size_t first_diff = 0;
  while (first_diff < ids.size() && ids[first_diff] == expected[first_diff]) ++first_diff;
  EXPECT_EQ(first_diff, ids.size()) << "first difference at id index " << first_diff;
  EXPECT_TRUE(tok.decode(ids) == text);
}

}  // namespace
}  // namespace lowbit
