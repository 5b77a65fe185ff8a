// Checked reads of a data set's JSON document fields; every error starts with `where` ("file:line")
// and names the field. Shared by the task formatters and MMLU.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::jsonf {

const nlohmann::json& field(const nlohmann::json& doc, const char* name, const std::string& where);
std::string text_field(const nlohmann::json& doc, const char* name, const std::string& where);
// A non-empty list of strings.
std::vector<std::string> text_list(const nlohmann::json& f, const std::string& name, const std::string& where);
// An integer label (a number or a decimal string), minus `offset`, checked to be in [0, choices).
int64_t label(const nlohmann::json& doc, const char* name, int64_t offset, std::size_t choices, const std::string& where);

}  // namespace lowbit::jsonf
