// Reading whole files and JSON documents with errors that name the file.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace lowbit {

// The bytes of `path`; lowbit::Error "<path>: cannot open" when it cannot be read.
std::string read_file(const std::string& path);

// Parses `text` (from `origin`, for messages) and requires a JSON object at the top.
nlohmann::json parse_json_object(const std::string& text, const std::string& origin);

}  // namespace lowbit
