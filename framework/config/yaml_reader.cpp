#include "framework/config/yaml_reader.h"

#include <cstdint>

namespace lowbit {

template <> const char* YamlSection::type_name<int>() { return "an integer"; }
template <> const char* YamlSection::type_name<int64_t>() { return "an integer"; }
template <> const char* YamlSection::type_name<double>() { return "a number"; }
template <> const char* YamlSection::type_name<bool>() { return "true or false"; }
template <> const char* YamlSection::type_name<std::string>() { return "a string"; }

YamlSection::YamlSection(YAML::Node node, std::string file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {
  LOWBIT_CHECK(node_.IsMap(), where(node_), ": ", path_.empty() ? "the document" : "key '" + path_ + "'",
               " must be a mapping of key: value");
}

bool YamlSection::has(const std::string& key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }

YamlSection YamlSection::section(const std::string& key) {
  LOWBIT_CHECK(has(key), where(node_), ": missing section '", qualified(key), "'");
  read_.insert(key);
  return YamlSection(node_[key], file_, qualified(key));
}

std::string YamlSection::where(const YAML::Node& n) const {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? file_ + ":" + std::to_string(m.line + 1) : file_;
}

void YamlSection::finish() const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    LOWBIT_CHECK(read_.count(key), where(it->first), ": unknown key '", qualified(key), "'");
  }
}

YamlSection load_yaml_text(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    LOWBIT_FAIL(origin, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  return YamlSection(root, origin, "");
}

YamlSection load_yaml_file(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    LOWBIT_FAIL(path, ": cannot open");
  } catch (const YAML::ParserException& e) {
    LOWBIT_FAIL(path, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  return YamlSection(root, path, "");
}

}  // namespace lowbit
