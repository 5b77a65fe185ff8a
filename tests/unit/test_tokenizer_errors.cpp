// tokenizer.json files lowbit cannot honour are refused naming the file and the field, and
// invalid input text is refused naming the byte offset.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "framework/model/byte_level.h"
#include "framework/model/tokenizer.h"
#include "tests/support/expect_error.h"

namespace lowbit {
namespace {

using nlohmann::json;

// A minimal valid byte-level BPE file: the 256 byte tokens, one merge ("a" + "b"), Llama-3 layout.
json tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::char_of_byte(static_cast<uint8_t>(b))] = b;
  vocab["ab"] = 256;
  return {{"version", "1.0"},
          {"added_tokens", json::array({{{"id", 257}, {"content", "<|end|>"}, {"special", true}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             json::array({{{"type", "Split"}, {"pattern", {{"Regex", R"(\p{L}+|\s+|[^\s\p{L}]+)"}}},
                           {"behavior", "Isolated"}, {"invert", false}},
                          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
          {"post_processor", {{"type", "ByteLevel"}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b"})}, {"ignore_merges", false}}}};
}

Tokenizer load(const json& j) { return Tokenizer::from_json_text(j.dump(), "tok/tokenizer.json"); }

TEST(TokenizerFile, TinyValidFileEncodesWithItsMergeAndAddedToken) {
  const Tokenizer tok = load(tiny_tokenizer());
  EXPECT_EQ(tok.encode("abc<|end|>"), (std::vector<int32_t>{256, 'c', 257}));
  EXPECT_EQ(tok.decode({256, 'c', 257}), "abc<|end|>");
  EXPECT_EQ(tok.decode({256, 'c', 257}, /*skip_special_tokens=*/true), "abc");
}

TEST(TokenizerFile, InvalidJsonIsRefused) {
  EXPECT_LOWBIT_ERROR(Tokenizer::from_json_text("{\"model\": ", "tok/tokenizer.json"),
                      {"tok/tokenizer.json", "not valid JSON"});
}

TEST(TokenizerFile, NonBpeModelIsRefused) {
  json j = tiny_tokenizer();
  j["model"]["type"] = "WordPiece";
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "'model.type'", "WordPiece"});
}

TEST(TokenizerFile, UnsupportedPreTokenizerIsRefused) {
  json j = tiny_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0] = {{"type", "Whitespace"}};
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "pre_tokenizer.pretokenizers[0].type", "Whitespace"});
}

TEST(TokenizerFile, SplitBehaviourOtherThanIsolatedIsRefused) {
  json j = tiny_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "pre_tokenizer.pretokenizers[0].behavior", "Removed"});
}

TEST(TokenizerFile, RegexThatDoesNotCompileIsRefused) {
  json j = tiny_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(\\p{L}+";
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "pre_tokenizer.pretokenizers[0].pattern", "does not compile"});
}

TEST(TokenizerFile, MergeUsingAnUnknownTokenIsRefused) {
  json j = tiny_tokenizer();
  j["model"]["merges"].push_back("ab zz");
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "model.merges[1]", "'ab' + 'zz'"});
}

TEST(TokenizerFile, VocabularyWithoutEveryByteTokenIsRefused) {
  json j = tiny_tokenizer();
  j["model"]["vocab"].erase(byte_level::char_of_byte('q'));
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "model.vocab", "byte 113"});
}

// Found by fuzzing (tests/fuzz/crashes/tokenizer_json): one id of 2^30 - 1 in a 5 kB file made the id
// table a billion strings (32 GiB). Ids must lie below the number of tokens the file defines.
TEST(TokenizerFile, IdsBeyondTheTokensTheFileDefinesAreRefused) {
  json j = tiny_tokenizer();  // 257 vocab tokens + 1 added: ids 0..257
  j["model"]["vocab"]["zz"] = (1 << 30) - 1;
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "model.vocab", "'zz'", "1073741823", "259 tokens"});
  j = tiny_tokenizer();
  j["added_tokens"][0]["id"] = 258;
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "added_tokens[0]", "258", "258 tokens"});
}

TEST(TokenizerFile, NormalizerIsRefused) {
  json j = tiny_tokenizer();
  j["normalizer"] = {{"type", "NFC"}};
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "'normalizer'"});
}

TEST(TokenizerFile, TemplateNamingAnUnknownSpecialTokenIsRefused) {
  json j = tiny_tokenizer();
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                         {"special_tokens", json::object()}};
  EXPECT_LOWBIT_ERROR(load(j), {"tok/tokenizer.json", "post_processor.special_tokens", "'<s>'"});
}

TEST(TokenizerInput, InvalidUtf8IsRefusedWithItsByteOffset) {
  const Tokenizer tok = load(tiny_tokenizer());
  EXPECT_LOWBIT_ERROR(tok.encode("abc\xC3("), {"not valid UTF-8", "byte 3"});
  EXPECT_LOWBIT_ERROR(tok.encode("\xED\xA0\x80"), {"byte 0"});  // an encoded surrogate
}

TEST(TokenizerInput, UnknownIdInDecodeIsRefused) {
  const Tokenizer tok = load(tiny_tokenizer());
  EXPECT_LOWBIT_ERROR(tok.decode({5, 9999}), {"tok/tokenizer.json", "token id 9999"});
}

}  // namespace
}  // namespace lowbit
