// Typed reading of a YAML mapping with errors that name the file, the line and the key:
//   YamlSection root = load_yaml_file(path);
//   YamlSection s = root.section("optimizer"); // required mapping
//   double lr = s.get<double>("lr", 3e-3);    // default when absent
//   s.finish();                               // any key not read is an error (typos)
// `key=value` command-line overrides are applied to the document before it is read
// (apply_override), so they are validated like the file itself.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "framework/core/error.h"

namespace lowbit {

// Qualified key ("method.bits") -> the command-line override that set it ("method.bits=abc"), so
// an error in an overridden value names the override, not a line of the file.
using YamlOverrides = std::map<std::string, std::string>;

class YamlSection {
 public:
  YamlSection(YAML::Node node, std::string file, std::string path,
              std::shared_ptr<const YamlOverrides> overrides = nullptr);
  const YAML::Node& node() const { return node_; }

  bool has(const std::string& key) const;
  template <typename T>
  T get(const std::string& key) {  // required
    LOWBIT_CHECK(has(key), where(node_), ": missing key '", qualified(key), "'");
    return convert<T>(key);
  }
  template <typename T>
  T get(const std::string& key, const T& fallback) {
    return has(key) ? convert<T>(key) : fallback;
  }
  YamlSection section(const std::string& key);  // a required nested mapping
  // Errors for every key of this mapping that was never read.
  void finish() const;
  const std::string& file() const { return file_; }

 private:
  template <typename T>
  T convert(const std::string& key) {
    read_.insert(key);
    const YAML::Node v = node_[key];
    try {
      return v.as<T>();
    } catch (const YAML::Exception&) {
      LOWBIT_FAIL(where_key(key, v), ": key '", qualified(key), "' must be ", type_name<T>(), ", got '", YAML::Dump(v),
                  "'");
    }
  }
  template <typename T>
  static const char* type_name();
  std::string where(const YAML::Node& n) const;
  // where(n), or the override that set `key` (or a section above it).
  std::string where_key(const std::string& key, const YAML::Node& n) const;
  std::string qualified(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  YAML::Node node_;
  std::string file_;
  std::string path_;
  std::set<std::string> read_;
  std::shared_ptr<const YamlOverrides> overrides_;
};

template <> const char* YamlSection::type_name<int>();
template <> const char* YamlSection::type_name<int64_t>();
template <> const char* YamlSection::type_name<double>();
template <> const char* YamlSection::type_name<bool>();
template <> const char* YamlSection::type_name<std::string>();
template <> const char* YamlSection::type_name<std::vector<std::string>>();
template <> const char* YamlSection::type_name<YAML::Node>();

// Loads a YAML file whose top level is a mapping. A key that appears twice in one mapping is
// refused (YAML 1.2 requires unique keys; yaml-cpp would keep the first silently), naming both lines.
YamlSection load_yaml_file(const std::string& path);
// The same for YAML text (`origin` names it in messages).
YamlSection load_yaml_text(const std::string& text, const std::string& origin);
// Loads a file and applies overrides "a.b.c=value" (value parsed as YAML: 3, true, "x", [1, 2]).
YamlSection load_yaml_file(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace lowbit
