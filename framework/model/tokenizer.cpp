#include "framework/model/tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/core/utf8.h"
#include "framework/model/byte_level.h"
#include "framework/model/regex.h"

namespace lowbit {

using nlohmann::json;

namespace {

// The pattern ByteLevel uses when `use_regex` is true (GPT-2's).
const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// One step of the pre-tokenizer: split every piece with a regex (Split/Isolated or
// ByteLevel/use_regex), or prepend a space (ByteLevel/add_prefix_space).
struct PreStep {
  std::optional<Regex> regex;
  bool add_prefix_space = false;
};

struct Piece {
  std::size_t begin, end;  // byte span in the segment
  bool prefix_space = false;
};

// A trie over the bytes of the added tokens, for leftmost-longest matching.
class AddedTokenTrie {
 public:
  void insert(const std::string& s, int index) {
    int node = 0;
    for (unsigned char c : s) {
      auto key = (static_cast<int64_t>(node) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, static_cast<int>(terminal_.size())).first;
        terminal_.push_back(-1);
      }
      node = it->second;
    }
    terminal_[node] = index;
  }
  // Longest token starting at text[pos]: (index, length) or (-1, 0).
  std::pair<int, std::size_t> longest_at(std::string_view text, std::size_t pos) const {
    int node = 0, best = -1;
    std::size_t best_len = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
      auto it = edges_.find((static_cast<int64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
      if (it == edges_.end()) break;
      node = it->second;
      if (terminal_[node] >= 0) {
        best = terminal_[node];
        best_len = i + 1 - pos;
      }
    }
    return {best, best_len};
  }
  bool empty() const { return edges_.empty(); }
  bool may_start(unsigned char c) const { return edges_.count(c) != 0; }

 private:
  std::unordered_map<int64_t, int> edges_;
  std::vector<int> terminal_{-1};  // node -> added token index
};

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

std::string describe(const json& j) {
  std::string s = j.dump();
  return s.size() > 120 ? s.substr(0, 117) + "..." : s;
}

}  // namespace

struct Tokenizer::Impl {
  std::string origin;
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<std::string> id_to_token;
  std::vector<char> is_special;  // per id
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (left, right) -> (rank, merged)
  std::array<int32_t, 256> byte_id{};
  bool ignore_merges = false;
  std::vector<AddedToken> added;
  AddedTokenTrie trie;
  std::vector<PreStep> pre_steps;
  std::vector<int32_t> prefix_ids, suffix_ids;
  // Ids run 0..n-1 over the n tokens the file defines (model.vocab and added_tokens together), so
  // an id at or beyond n is refused: the id tables are sized by it (an id of 2^30 in a 5 kB file
  // would otherwise allocate a table of a billion strings).
  int64_t id_limit = 0;

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  void load_model(const json& model);
  void load_added(const json& list);
  void load_pre_tokenizer(const json& pt, const std::string& field);
  void load_post_processor(const json& pp, const std::string& field);
  void check_decoder(const json& d, const std::string& field) const;

  void bpe(std::string_view piece, bool prefix_space, std::vector<int32_t>& out) const;
  void encode_segment(std::string_view seg, std::vector<int32_t>& out,
                      std::unordered_map<std::string, std::vector<int32_t>>& cache) const;
};

// ---- loading ----------------------------------------------------------------------------------

void Tokenizer::Impl::load_model(const json& model) {
  LOWBIT_CHECK(model.is_object(), origin, ": field 'model' must be an object");
  const std::string type = model.value("type", "");
  LOWBIT_CHECK(type == "BPE", origin, ": field 'model.type' is '", type, "', only 'BPE' is supported");
  LOWBIT_CHECK(!model.value("byte_fallback", false), origin,
               ": field 'model.byte_fallback' is true; only byte-level BPE is supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    LOWBIT_CHECK(!model.contains(key) || model[key].is_null() ||
                     (model[key].is_string() && model[key].get<std::string>().empty()),
                 origin, ": field 'model.", key, "' is set; byte-level BPE uses none");
  if (model.contains("dropout") && !model["dropout"].is_null())
    LOWBIT_CHECK(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0, origin,
                 ": field 'model.dropout' must be null (BPE dropout is for training)");
  ignore_merges = model.value("ignore_merges", false);

  LOWBIT_CHECK(model.contains("vocab") && model["vocab"].is_object(), origin,
               ": field 'model.vocab' must be an object {token: id}");
  int32_t max_id = -1;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    LOWBIT_CHECK(it->is_number_integer() && it->get<int64_t>() >= 0 && it->get<int64_t>() < (1 << 30),
                 origin, ": field 'model.vocab': token '", it.key(), "' has id ", describe(*it),
                 ", expected a non-negative integer");
    LOWBIT_CHECK(it->get<int64_t>() < id_limit, origin, ": field 'model.vocab': token '", it.key(), "' has id ",
                 it->get<int64_t>(), ", beyond the ", id_limit, " tokens the file defines (ids run 0..", id_limit - 1, ")");
    const auto id = it->get<int32_t>();
    vocab.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  id_to_token.assign(max_id + 1, std::string());
  std::vector<char> seen(max_id + 1, 0);
  for (const auto& [tok, id] : vocab) {
    LOWBIT_CHECK(!seen[id], origin, ": field 'model.vocab': id ", id, " is given to two tokens ('",
                 id_to_token[id], "' and '", tok, "')");
    seen[id] = 1;
    id_to_token[id] = tok;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab.find(byte_level::char_of_byte(static_cast<uint8_t>(b)));
    LOWBIT_CHECK(it != vocab.end(), origin, ": field 'model.vocab' lacks the byte-level token of byte ",
                 b, " ('", byte_level::char_of_byte(static_cast<uint8_t>(b)),
                 "'); only byte-level BPE vocabularies are supported");
    byte_id[b] = it->second;
  }

  LOWBIT_CHECK(model.contains("merges") && model["merges"].is_array(), origin,
               ": field 'model.merges' must be a list");
  const json& list = model["merges"];
  for (std::size_t rank = 0; rank < list.size(); ++rank) {
    const json& m = list[rank];
    std::string a, b;
    if (m.is_string()) {  // "left right"
      const std::string s = m.get<std::string>();
      const auto sp = s.find(' ');
      LOWBIT_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < s.size() &&
                       s.find(' ', sp + 1) == std::string::npos,
                   origin, ": field 'model.merges[", rank, "]' is '", s, "', expected 'left right'");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      LOWBIT_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), origin,
                   ": field 'model.merges[", rank, "]' is ", describe(m), ", expected [left, right]");
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    const auto ia = vocab.find(a), ib = vocab.find(b), im = vocab.find(a + b);
    LOWBIT_CHECK(ia != vocab.end() && ib != vocab.end() && im != vocab.end(), origin,
                 ": field 'model.merges[", rank, "]' ('", a, "' + '", b,
                 "') uses or makes a token missing from model.vocab");
    merges.emplace(pair_key(ia->second, ib->second),
                   std::make_pair(static_cast<int32_t>(rank), im->second));  // first rank wins
  }
}

void Tokenizer::Impl::load_added(const json& list) {
  if (list.is_null()) return;
  LOWBIT_CHECK(list.is_array(), origin, ": field 'added_tokens' must be a list");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    const std::string field = "added_tokens[" + std::to_string(i) + "]";
    LOWBIT_CHECK(t.is_object() && t.contains("id") && t["id"].is_number_integer() && t["id"].get<int64_t>() >= 0 &&
                     t["id"].get<int64_t>() < (1 << 30) && t.contains("content") && t["content"].is_string(),
                 origin, ": field '", field, "' must have an integer 'id' and a string 'content', got ", describe(t));
    LOWBIT_CHECK(t["id"].get<int64_t>() < id_limit, origin, ": field '", field, "' has id ", t["id"].get<int64_t>(),
                 ", beyond the ", id_limit, " tokens the file defines (ids run 0..", id_limit - 1, ")");
    AddedToken a;
    a.id = t["id"].get<int32_t>();
    a.content = t["content"].get<std::string>();
    LOWBIT_CHECK(!a.content.empty(), origin, ": field '", field, "' has empty content");
    a.special = t.value("special", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.single_word = t.value("single_word", false);
    if (a.id >= static_cast<int32_t>(id_to_token.size())) id_to_token.resize(a.id + 1);
    LOWBIT_CHECK(id_to_token[a.id].empty() || id_to_token[a.id] == a.content, origin, ": field '", field,
                 "' gives id ", a.id, " to '", a.content, "', but the vocabulary has '", id_to_token[a.id], "' there");
    id_to_token[a.id] = a.content;
    vocab.emplace(a.content, a.id);
    trie.insert(a.content, static_cast<int>(added.size()));
    added.push_back(std::move(a));
  }
}

void Tokenizer::Impl::load_pre_tokenizer(const json& pt, const std::string& field) {
  if (pt.is_null()) return;
  LOWBIT_CHECK(pt.is_object() && pt.contains("type"), origin, ": field '", field, "' must be an object with a type");
  const std::string type = pt["type"].get<std::string>();
  if (type == "Sequence") {
    const json& list = pt.value("pretokenizers", json());
    LOWBIT_CHECK(list.is_array(), origin, ": field '", field, ".pretokenizers' must be a list");
    for (std::size_t i = 0; i < list.size(); ++i)
      load_pre_tokenizer(list[i], field + ".pretokenizers[" + std::to_string(i) + "]");
  } else if (type == "Split") {
    const std::string behavior = pt.value("behavior", "");
    LOWBIT_CHECK(behavior == "Isolated", origin, ": field '", field, ".behavior' is '", behavior,
                 "', only 'Isolated' is supported");
    LOWBIT_CHECK(!pt.value("invert", false), origin, ": field '", field, ".invert' is true; not supported");
    const json& pat = pt.value("pattern", json());
    std::string regex;
    if (pat.contains("Regex") && pat["Regex"].is_string()) {
      regex = pat["Regex"].get<std::string>();
    } else {
      LOWBIT_CHECK(pat.contains("String") && pat["String"].is_string(), origin, ": field '", field,
                   ".pattern' must be {\"Regex\": ...} or {\"String\": ...}");
      // A literal string: quote it for PCRE2.
      regex = "\\Q" + pat["String"].get<std::string>() + "\\E";
    }
    PreStep step;
    step.regex.emplace(regex, origin + ": field '" + field + ".pattern'");
    pre_steps.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    // Every piece is mapped to the byte-level alphabet inside bpe(); here only the options.
    if (pt.value("add_prefix_space", false)) {
      PreStep step;
      step.add_prefix_space = true;
      pre_steps.push_back(std::move(step));
    }
    if (pt.value("use_regex", true)) {
      PreStep step;
      step.regex.emplace(kGpt2Pattern, origin + ": field '" + field + "' (GPT-2 regex)");
      pre_steps.push_back(std::move(step));
    }
  } else {
    LOWBIT_FAIL(origin, ": field '", field, ".type' is '", type,
                "', supported pre-tokenizers: Sequence, Split, ByteLevel");
  }
}

void Tokenizer::Impl::load_post_processor(const json& pp, const std::string& field) {
  if (pp.is_null()) return;
  LOWBIT_CHECK(pp.is_object() && pp.contains("type"), origin, ": field '", field, "' must be an object with a type");
  const std::string type = pp["type"].get<std::string>();
  if (type == "ByteLevel") return;  // only adjusts offsets; the ids are unchanged
  if (type == "Sequence") {
    const json& list = pp.value("processors", json());
    LOWBIT_CHECK(list.is_array(), origin, ": field '", field, ".processors' must be a list");
    for (std::size_t i = 0; i < list.size(); ++i)
      load_post_processor(list[i], field + ".processors[" + std::to_string(i) + "]");
    return;
  }
  LOWBIT_CHECK(type == "TemplateProcessing", origin, ": field '", field, ".type' is '", type,
               "', supported post-processors: ByteLevel, TemplateProcessing, Sequence");
  const json& single = pp.value("single", json());
  LOWBIT_CHECK(single.is_array(), origin, ": field '", field, ".single' must be a list");
  const json& specials = pp.value("special_tokens", json::object());
  bool after_sequence = false;
  for (std::size_t i = 0; i < single.size(); ++i) {
    const json& item = single[i];
    if (item.contains("Sequence")) {
      LOWBIT_CHECK(!after_sequence, origin, ": field '", field, ".single' has two sequences");
      after_sequence = true;
      continue;
    }
    LOWBIT_CHECK(item.contains("SpecialToken") && item["SpecialToken"].contains("id"), origin, ": field '", field,
                 ".single[", i, "]' must be a Sequence or a SpecialToken, got ", describe(item));
    const std::string name = item["SpecialToken"]["id"].get<std::string>();
    LOWBIT_CHECK(specials.contains(name) && specials[name].contains("ids") && specials[name]["ids"].is_array(),
                 origin, ": field '", field, ".special_tokens' has no ids for '", name, "'");
    for (const json& id : specials[name]["ids"]) {
      LOWBIT_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 &&
                       id.get<int64_t>() < static_cast<int64_t>(id_to_token.size()),
                   origin, ": field '", field, ".special_tokens.", name, "' has id ", describe(id),
                   " outside the vocabulary");
      (after_sequence ? suffix_ids : prefix_ids).push_back(id.get<int32_t>());
    }
  }
  LOWBIT_CHECK(after_sequence, origin, ": field '", field, ".single' has no Sequence item");
}

void Tokenizer::Impl::check_decoder(const json& d, const std::string& field) const {
  LOWBIT_CHECK(d.is_object() && d.contains("type"), origin, ": field '", field,
               "' must be a decoder object (byte-level tokenizers decode with ByteLevel)");
  const std::string type = d["type"].get<std::string>();
  if (type == "Sequence") {
    const json& list = d.value("decoders", json());
    LOWBIT_CHECK(list.is_array() && list.size() == 1, origin, ": field '", field,
                 ".decoders' must hold exactly one ByteLevel decoder");
    check_decoder(list[0], field + ".decoders[0]");
    return;
  }
  LOWBIT_CHECK(type == "ByteLevel", origin, ": field '", field, ".type' is '", type,
               "', only the ByteLevel decoder is supported");
}

Tokenizer Tokenizer::from_json_text(const std::string& text, const std::string& origin) {
  const json j = parse_json_object(text, origin);
  auto impl = std::make_unique<Impl>();
  impl->origin = origin;
  try {
    LOWBIT_CHECK(!j.contains("normalizer") || j["normalizer"].is_null(), origin,
                 ": field 'normalizer' is set; tokenizers with a normalizer are not supported");
    LOWBIT_CHECK(j.contains("model"), origin, ": missing field 'model'");
    const json& model = j["model"];
    const bool has_vocab = model.is_object() && model.contains("vocab") && model["vocab"].is_object();
    const bool has_added = j.contains("added_tokens") && j["added_tokens"].is_array();
    impl->id_limit = static_cast<int64_t>((has_vocab ? model["vocab"].size() : 0) + (has_added ? j["added_tokens"].size() : 0));
    impl->load_model(model);
    impl->load_added(j.value("added_tokens", json()));
    impl->is_special.assign(impl->id_to_token.size(), 0);
    for (const AddedToken& a : impl->added) impl->is_special[a.id] = a.special;
    impl->load_pre_tokenizer(j.value("pre_tokenizer", json()), "pre_tokenizer");
    impl->load_post_processor(j.value("post_processor", json()), "post_processor");
    impl->check_decoder(j.value("decoder", json()), "decoder");
  } catch (const json::exception& e) {  // a field of the wrong JSON type
    LOWBIT_FAIL(origin, ": unexpected structure: ", e.what());
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_file(const std::string& path) { return from_json_text(read_file(path), path); }

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

// ---- encoding ---------------------------------------------------------------------------------

void Tokenizer::Impl::bpe(std::string_view piece, bool prefix_space, std::vector<int32_t>& out) const {
  std::string bytes;
  if (prefix_space) bytes.push_back(' ');
  bytes.append(piece);
  if (ignore_merges) {
    auto it = vocab.find(byte_level::encode(bytes));
    if (it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Sym {
    int32_t id;
    int prev, next;
  };
  const int n = static_cast<int>(bytes.size());
  std::vector<Sym> sym(n);
  for (int i = 0; i < n; ++i) sym[i] = {byte_id[static_cast<unsigned char>(bytes[i])], i - 1, i + 1 < n ? i + 1 : -1};

  struct Cand {
    int32_t rank;
    int pos;
    int32_t left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
  const auto push = [&](int pos) {
    const int nx = sym[pos].next;
    if (nx < 0) return;
    auto it = merges.find(pair_key(sym[pos].id, sym[nx].id));
    if (it != merges.end()) queue.push({it->second.first, pos, sym[pos].id, sym[nx].id});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    Sym& s = sym[c.pos];
    // Skip candidates made stale by an earlier merge (the left symbol died or either side changed).
    if (s.id != c.left || s.next < 0 || sym[s.next].id != c.right) continue;
    const int dead = s.next;
    s.id = merges.at(pair_key(c.left, c.right)).second;
    s.next = sym[dead].next;
    if (s.next >= 0) sym[s.next].prev = c.pos;
    sym[dead].id = -1;
    if (s.prev >= 0) push(s.prev);
    push(c.pos);
  }
  for (int i = 0; i >= 0 && i < n; i = sym[i].next) out.push_back(sym[i].id);
}

void Tokenizer::Impl::encode_segment(std::string_view seg, std::vector<int32_t>& out,
                                     std::unordered_map<std::string, std::vector<int32_t>>& cache) const {
  std::vector<Piece> pieces{{0, seg.size(), false}};
  std::vector<Piece> next;
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (const PreStep& step : pre_steps) {
    if (step.add_prefix_space) {
      // ByteLevel(add_prefix_space): a space in front of each piece that does not start with one.
      for (Piece& p : pieces)
        if (!p.prefix_space && (p.begin == p.end || seg[p.begin] != ' ')) p.prefix_space = true;
      continue;
    }
    next.clear();
    for (const Piece& p : pieces) {
      if (p.prefix_space) {
        // A piece with a virtual leading space is re-split as a whole only by ByteLevel's own
        // regex, which we model by letting the space join the first span.
        std::string tmp(1, ' ');
        tmp.append(seg.substr(p.begin, p.end - p.begin));
        spans.clear();
        step.regex->find_all(tmp, spans);
        std::size_t cursor = 0;
        bool first = true;
        const auto emit = [&](std::size_t b, std::size_t e) {
          if (e <= b) return;
          // tmp offset 0 is the virtual space; map others back to seg.
          if (first && b == 0) {
            next.push_back({p.begin, p.begin + e - 1, true});
          } else {
            next.push_back({p.begin + b - 1, p.begin + e - 1, false});
          }
          first = false;
        };
        for (auto [b, e] : spans) {
          emit(cursor, b);
          emit(b, e);
          cursor = e;
        }
        emit(cursor, tmp.size());
        continue;
      }
      std::string_view text = seg.substr(p.begin, p.end - p.begin);
      spans.clear();
      step.regex->find_all(text, spans);
      std::size_t cursor = 0;
      for (auto [b, e] : spans) {  // Isolated: matches and the gaps between them are pieces
        if (b > cursor) next.push_back({p.begin + cursor, p.begin + b, false});
        next.push_back({p.begin + b, p.begin + e, false});
        cursor = e;
      }
      if (cursor < text.size()) next.push_back({p.begin + cursor, p.end, false});
    }
    pieces.swap(next);
  }
  for (const Piece& p : pieces) {
    if (p.begin == p.end && !p.prefix_space) continue;
    const std::string_view text = seg.substr(p.begin, p.end - p.begin);
    if (p.prefix_space) {
      bpe(text, true, out);
      continue;
    }
    auto it = cache.find(std::string(text));
    if (it == cache.end()) {
      std::vector<int32_t> ids;
      bpe(text, false, ids);
      it = cache.emplace(std::string(text), std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const std::size_t bad = utf8::first_invalid(text);
  LOWBIT_CHECK(bad == std::string_view::npos, "tokenizer input is not valid UTF-8 at byte ", bad);
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  if (add_special_tokens) out.insert(out.end(), m.prefix_ids.begin(), m.prefix_ids.end());
  std::unordered_map<std::string, std::vector<int32_t>> cache;

  // Split on added tokens (leftmost-longest), honouring lstrip/rstrip/single_word.
  std::size_t seg_begin = 0, pos = 0;
  while (pos < text.size()) {
    if (m.trie.empty() || !m.trie.may_start(static_cast<unsigned char>(text[pos]))) {
      ++pos;
      continue;
    }
    auto [index, len] = m.trie.longest_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& a = m.added[index];
    std::size_t b = pos, e = pos + len;
    if (a.single_word && ((b > 0 && is_word_char(text[b - 1])) || (e < text.size() && is_word_char(text[e])))) {
      ++pos;
      continue;
    }
    if (a.lstrip)
      while (b > seg_begin && is_ascii_space(text[b - 1])) --b;
    if (a.rstrip)
      while (e < text.size() && is_ascii_space(text[e])) ++e;
    if (b > seg_begin) m.encode_segment(text.substr(seg_begin, b - seg_begin), out, cache);
    out.push_back(a.id);
    seg_begin = pos = e;
  }
  if (seg_begin < text.size()) m.encode_segment(text.substr(seg_begin), out, cache);
  if (add_special_tokens) out.insert(out.end(), m.suffix_ids.begin(), m.suffix_ids.end());
  return out;
}

// ---- decoding and lookups ---------------------------------------------------------------------

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    const std::string& tok = id_to_token(id);
    if (skip_special_tokens && impl_->is_special[id]) continue;
    // A token whose characters are all in the byte-level alphabet decodes to those bytes;
    // any other (an added token like "<|x|> ") stands for its own UTF-8 bytes.
    if (!byte_level::decode(tok, bytes)) bytes += tok;
  }
  return utf8::lossy(bytes);
}

int32_t Tokenizer::size() const { return static_cast<int32_t>(impl_->id_to_token.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  auto it = impl_->vocab.find(std::string(token));
  if (it == impl_->vocab.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  LOWBIT_CHECK(id >= 0 && id < size() && !impl_->id_to_token[id].empty(), impl_->origin, ": token id ", id,
               " is not in the vocabulary (", size(), " ids)");
  return impl_->id_to_token[id];
}

const std::vector<int32_t>& Tokenizer::prefix_ids() const { return impl_->prefix_ids; }
const std::vector<int32_t>& Tokenizer::suffix_ids() const { return impl_->suffix_ids; }

}  // namespace lowbit
