// Reading and writing whole files, and parsing JSON documents, with errors that name the file.
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>

namespace lowbit {

// The bytes of `path`; lowbit::Error "<path>: cannot open" when it cannot be read.
std::string read_file(const std::string& path);

// Writes `path` through a temporary file renamed into place, so a reader never sees a half-written
// file and a failed write (an error, or an exception from `write`) leaves the old one untouched.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);
void write_file_atomic(const std::string& path, const std::string& bytes);

// Parses `text` (from `origin`, for messages) and requires a JSON object at the top.
nlohmann::json parse_json_object(const std::string& text, const std::string& origin);

}  // namespace lowbit
