// `lowbit tokenize --tokenizer PATH [--ids] TEXT | --file F`: token ids of a text (or, with
// --decode, the text of ids).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <sstream>

#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/model/tokenizer.h"

namespace lowbit::cli {
namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string text;
  std::string file;
  bool ids_only = false;
  bool decode = false;
  bool no_special = false;
};

std::string tokenizer_path(const std::string& p) {
  return std::filesystem::is_directory(p) ? (std::filesystem::path(p) / "tokenizer.json").string() : p;
}

void run(const TokenizeArgs& a) {
  LOWBIT_CHECK(a.text.empty() != a.file.empty(), "give either TEXT or --file, not both and not neither");
  const Tokenizer tok = Tokenizer::from_file(tokenizer_path(a.tokenizer));
  std::string input = a.file.empty() ? a.text : read_file(a.file);
  if (a.decode) {
    std::vector<int32_t> ids;
    std::istringstream in(input);
    std::string word;
    while (in >> word) {
      for (char& ch : word)
        if (ch == ',') ch = ' ';
      std::istringstream w(word);
      long long id;
      while (w >> id) ids.push_back(static_cast<int32_t>(id));
      LOWBIT_CHECK(w.eof(), "--decode expects integer ids, got '", word, "'");
    }
    fmt::print("{}\n", tok.decode(ids, a.no_special));
    return;
  }
  const std::vector<int32_t> ids = tok.encode(input, !a.no_special);
  std::string line;
  for (std::size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  fmt::print("{}\n", line);
  if (a.ids_only) return;
  fmt::print("{} tokens\n", ids.size());
  for (int32_t id : ids) fmt::print("  {:>7}  {}\n", id, tok.decode({id}));
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Token ids of a text with a Hugging Face tokenizer.json");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json, or a directory holding one")->required();
  cmd->add_option("TEXT", a->text, "Text to tokenize (or ids to decode with --decode)");
  cmd->add_option("--file", a->file, "Read the text from this file instead");
  cmd->add_flag("--ids", a->ids_only, "Print only the ids, on one line");
  cmd->add_flag("--decode", a->decode, "The input is token ids (space or comma separated): print their text");
  cmd->add_flag("--no-special", a->no_special,
                "Encode without the post-processor's special tokens; decode without special tokens");
  cmd->callback([a] { run(*a); });
}

}  // namespace lowbit::cli
