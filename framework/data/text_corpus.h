// Corpus readers: plain text, JSON Lines and gzip-compressed JSON Lines (C4's `.json.gz`).
// Errors name the file and the line.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lowbit {

// Calls `fn` with every JSON object of a .jsonl / .json.gz / .jsonl.gz file and its 1-based line
// (blank lines skipped); a line that is not a JSON object is an error naming file:line.
void for_each_jsonl_object(const std::string& path,
                           const std::function<void(const nlohmann::json& object, int64_t line)>& fn);

// The `field` of every JSON object of a .jsonl / .json.gz file (one object per line; blank lines
// skipped). A line that is not a JSON object, or lacks the field as a string, is an error.
std::vector<std::string> read_jsonl_field(const std::string& path, const std::string& field = "text");

// A file's documents: the `text` field of each JSONL/.json.gz line, or the pieces of a plain text
// file between `separator`s (empty pieces dropped).
std::vector<std::string> read_documents(const std::string& path, const std::string& separator = "\n\n");

// A file's text: plain text as it is, or a JSONL/.json.gz file's `text` fields joined by `separator`.
std::string read_corpus_text(const std::string& path, const std::string& separator = "\n\n");

}  // namespace lowbit
