#include "framework/config/yaml_reader.h"

#include <cstdint>
#include <map>

namespace lowbit {

template <> const char* YamlSection::type_name<int>() { return "an integer"; }
template <> const char* YamlSection::type_name<int64_t>() { return "an integer"; }
template <> const char* YamlSection::type_name<double>() { return "a number"; }
template <> const char* YamlSection::type_name<bool>() { return "true or false"; }
template <> const char* YamlSection::type_name<std::string>() { return "a string"; }
template <> const char* YamlSection::type_name<std::vector<std::string>>() { return "a list of strings"; }
template <> const char* YamlSection::type_name<YAML::Node>() { return "a YAML value"; }

YamlSection::YamlSection(YAML::Node node, std::string file, std::string path,
                         std::shared_ptr<const YamlOverrides> overrides)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)), overrides_(std::move(overrides)) {
  LOWBIT_CHECK(node_.IsMap(), where(node_), ": ", path_.empty() ? "the document" : "key '" + path_ + "'",
               " must be a mapping of key: value");
}

bool YamlSection::has(const std::string& key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }

YamlSection YamlSection::section(const std::string& key) {
  LOWBIT_CHECK(has(key), where(node_), ": missing section '", qualified(key), "'");
  read_.insert(key);
  return YamlSection(node_[key], file_, qualified(key), overrides_);
}

std::string YamlSection::where(const YAML::Node& n) const {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? file_ + ":" + std::to_string(m.line + 1) : file_;
}

std::string YamlSection::where_key(const std::string& key, const YAML::Node& n) const {
  if (overrides_)
    for (std::string k = qualified(key);;) {
      if (auto it = overrides_->find(k); it != overrides_->end())
        return "override '" + it->second + "' (applied to " + file_ + ")";
      const auto dot = k.rfind('.');
      if (dot == std::string::npos) break;
      k.resize(dot);
    }
  return where(n);
}

void YamlSection::finish() const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    LOWBIT_CHECK(it->first.IsScalar(), where(it->first), ": a key of ", path_.empty() ? "the document" : "'" + path_ + "'",
                 " is ", YAML::Dump(it->first), "; keys are plain names");
    const std::string key = it->first.Scalar();
    LOWBIT_CHECK(read_.count(key), where_key(key, it->first), ": unknown key '", qualified(key), "'");
  }
}

namespace {

// Every mapping of the document, at any depth, has each key once.
void check_unique_keys(const YAML::Node& n, const std::string& origin, const std::string& path) {
  if (n.IsMap()) {
    std::map<std::string, int> first_line;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : YAML::Dump(it->first);
      const std::string q = path.empty() ? key : path + "." + key;
      const int line = it->first.Mark().line + 1;
      auto [seen, fresh] = first_line.emplace(key, line);
      LOWBIT_CHECK(fresh, origin, ":", line, ": key '", q, "' appears twice in one mapping (first at line ", seen->second,
                   "); keep one");
      check_unique_keys(it->second, origin, q);
    }
  } else if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) check_unique_keys(n[i], origin, path + "[" + std::to_string(i) + "]");
  }
}

}  // namespace

YamlSection load_yaml_text(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    LOWBIT_FAIL(origin, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  check_unique_keys(root, origin, "");
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
  check_unique_keys(root, path, "");
  return YamlSection(root, path, "");
}

}  // namespace lowbit

namespace lowbit {

YamlSection load_yaml_file(const std::string& path, const std::vector<std::string>& overrides) {
  YamlSection doc = load_yaml_file(path);
  YAML::Node root = doc.node();
  auto origins = std::make_shared<YamlOverrides>();
  for (const std::string& o : overrides) {
    const auto eq = o.find('=');
    LOWBIT_CHECK(eq != std::string::npos && eq > 0, "override '", o, "': expected key=value, e.g. method.bits=3");
    const std::string key = o.substr(0, eq);
    YAML::Node value;
    try {
      value = YAML::Load(o.substr(eq + 1));
    } catch (const YAML::Exception& e) {
      LOWBIT_FAIL("override '", o, "': the value is not valid YAML: ", e.msg);
    }
    check_unique_keys(value, "override '" + o + "'", key);
    // Walk to the parent mapping (which must exist), then set the last key.
    YAML::Node node = root;
    std::size_t start = 0;
    while (true) {
      const auto dot = key.find('.', start);
      const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      LOWBIT_CHECK(!part.empty(), "override '", o, "': empty key part");
      if (dot == std::string::npos) {
        LOWBIT_CHECK(node.IsMap(), "override '", o, "': '", key.substr(0, start ? start - 1 : 0),
                     "' in ", path, " is not a mapping");
        node[part] = value;
        (*origins)[key] = o;
        break;
      }
      LOWBIT_CHECK(node.IsMap() && node[part].IsDefined() && node[part].IsMap(), "override '", o, "': ", path,
                   " has no section '", key.substr(0, dot), "'");
      node.reset(node[part]);
      start = dot + 1;
    }
  }
  return YamlSection(root, path, "", origins);
}

}  // namespace lowbit
