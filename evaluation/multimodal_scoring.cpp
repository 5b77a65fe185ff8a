#include "evaluation/multimodal_scoring.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "evaluation/python_text.h"
#include "framework/core/error.h"
#include "framework/data/python_random.h"

namespace lowbit::mm {
namespace {

// string.punctuation: the ASCII punctuation characters.
bool is_ascii_punctuation(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

std::string without_ascii_punctuation(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!is_ascii_punctuation(c)) out.push_back(c);
  return out;
}

// " ".join(s.strip().lower().split())
std::string normalized_words(std::string_view s) {
  std::string out;
  for (const std::string& w : pytext::split(pytext::lower(s))) {
    if (!out.empty()) out.push_back(' ');
    out += w;
  }
  return out;
}

// Unit-cost insert/delete/substitute distance over code points (lmms-eval's levenshtein_distance).
int64_t levenshtein(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  const std::vector<uint32_t>& s1 = a.size() <= b.size() ? a : b;
  const std::vector<uint32_t>& s2 = a.size() <= b.size() ? b : a;
  std::vector<int64_t> row(s1.size() + 1), next(s1.size() + 1);
  for (std::size_t i = 0; i <= s1.size(); ++i) row[i] = static_cast<int64_t>(i);
  for (std::size_t j = 0; j < s2.size(); ++j) {
    next[0] = static_cast<int64_t>(j) + 1;
    for (std::size_t i = 0; i < s1.size(); ++i)
      next[i + 1] = s1[i] == s2[j] ? row[i] : 1 + std::min({row[i], row[i + 1], next[i]});
    std::swap(row, next);
  }
  return row[s1.size()];
}

// relaxed_correctness's _to_float: "x%" is float(x.rstrip("%")) / 100.
std::optional<double> chart_number(std::string_view text) {
  if (!text.empty() && text.back() == '%') {
    std::string_view t = text;
    while (!t.empty() && t.back() == '%') t.remove_suffix(1);
    const std::optional<double> v = pytext::to_float(t);
    if (!v) return std::nullopt;
    return *v / 100.0;
  }
  return pytext::to_float(text);
}

}  // namespace

bool ai2d_correct(std::string_view response, std::string_view gold_letter) {
  // MultiChoiceRegexFilter: re.match(r"^\s*([A-Z])\.", response) -> the letter.
  const std::vector<uint32_t> cps = pytext::code_points(response);
  std::size_t i = 0;
  while (i < cps.size() && pytext::is_space(cps[i])) ++i;
  std::string filtered;
  if (i + 1 < cps.size() && cps[i] >= 'A' && cps[i] <= 'Z' && cps[i + 1] == '.')
    filtered = std::string(1, static_cast<char>(cps[i]));
  else
    filtered = pytext::strip(response);
  return without_ascii_punctuation(pytext::lower(filtered)) == without_ascii_punctuation(pytext::lower(gold_letter));
}

bool chartqa_relaxed_correct(std::string_view response, std::string_view target) {
  const std::string prediction = pytext::strip(response);
  const std::optional<double> p = chart_number(prediction), t = chart_number(target);
  // `if prediction_float is not None and target_float`: a zero target falls to the string compare;
  // NaN is truthy and then compares false.
  if (p && t && *t != 0.0) return std::fabs(*p - *t) / std::fabs(*t) <= 0.05;
  return pytext::lower(prediction) == pytext::lower(target);
}

double anls(const std::vector<std::string>& references, std::string_view response) {
  LOWBIT_CHECK(!references.empty(), "DocVQA: a question without reference answers");
  const std::string prediction = pytext::strip(response);
  const std::vector<uint32_t> det = pytext::code_points(normalized_words(prediction));
  double smallest = 0;
  for (std::size_t r = 0; r < references.size(); ++r) {
    const std::vector<uint32_t> gt = pytext::code_points(normalized_words(references[r]));
    const int64_t length = std::max(pytext::upper_length(references[r]), pytext::upper_length(prediction));
    const double value = length == 0 ? 0.0 : static_cast<double>(levenshtein(gt, det)) / static_cast<double>(length);
    smallest = r == 0 ? value : std::min(smallest, value);
  }
  const double result = 1 - smallest;
  return result < 0.5 ? 0.0 : result;
}

double anls_any_reference(const std::vector<std::string>& references, std::string_view response) {
  LOWBIT_CHECK(!references.empty(), "DocVQA: a question without reference answers");
  for (const std::string& r : references)
    if (anls({r}, response) != 0.0) return 1.0;
  return 0.0;
}

YesNo mme_parse(std::string_view response) {
  const std::string p = pytext::replace_all(pytext::strip(pytext::lower(pytext::strip(response))), ".", "");
  if (p == "yes") return YesNo::yes;
  if (p == "no") return YesNo::no;
  const std::vector<uint32_t> cps = pytext::code_points(p);
  if (cps.size() == 1) return p == "y" ? YesNo::yes : p == "n" ? YesNo::no : YesNo::other;
  const std::string prefix = pytext::from_code_points({cps.begin(), cps.begin() + std::min<std::size_t>(4, cps.size())});
  if (prefix.find("yes") != std::string::npos) return YesNo::yes;
  if (prefix.find("no") != std::string::npos) return YesNo::no;
  return YesNo::other;
}

bool mme_is_perception(std::string_view category) {
  static const char* const kPerception[] = {"existence", "count", "position", "color", "posters",
                                            "celebrity", "scene", "landmark", "artwork", "OCR"};
  return std::find(std::begin(kPerception), std::end(kPerception), category) != std::end(kPerception);
}

MmeScores mme_scores(const std::vector<MmeAnswer>& answers) {
  // mme_aggregate_results, once for the perception items and once for the cognition ones:
  // categories and images in order of first appearance, as Python's dicts keep them.
  MmeScores out;
  for (const bool perception : {true, false}) {
    std::vector<std::string> categories;
    std::map<std::string, std::vector<std::string>> images;  // category -> question ids in order
    std::map<std::pair<std::string, std::string>, std::vector<double>> scores;
    for (const MmeAnswer& a : answers) {
      if (mme_is_perception(a.category) != perception) continue;
      const std::string gt = pytext::replace_all(pytext::strip(pytext::lower(a.answer)), ".", "");
      LOWBIT_CHECK(gt == "yes" || gt == "no", "MME question ", a.question_id, ": answer \"", a.answer,
                   "\" is not yes or no");
      const YesNo pred = mme_parse(a.response);
      const double score = (pred == YesNo::yes && gt == "yes") || (pred == YesNo::no && gt == "no") ? 1.0 : 0.0;
      if (!images.count(a.category)) categories.push_back(a.category);
      auto& ids = images[a.category];
      auto& s = scores[{a.category, a.question_id}];
      if (s.empty()) ids.push_back(a.question_id);
      s.push_back(score);
    }
    double total = 0;
    for (const std::string& c : categories) {
      double category_total = 0;
      for (const std::string& id : images[c]) {
        const std::vector<double>& s = scores[{c, id}];
        LOWBIT_CHECK(s.size() == 2, "MME image ", id, " (", c, ") has ", s.size(),
                     " question(s); MME scores pairs of questions per image");
        const double acc = (s[0] + s[1]) / 2.0 * 100.0;
        const double acc_plus = (s[0] + s[1] == 2.0) ? 100.0 : 0.0;
        category_total += acc_plus + acc;
      }
      const double avg = category_total / static_cast<double>(images[c].size());
      out.categories.emplace_back(c, avg);
      total += avg;
    }
    (perception ? out.perception : out.cognition) = total;
  }
  return out;
}

std::optional<char> mmbench_infer(std::string_view response,
                                  const std::array<std::optional<std::string>, 5>& options) {
  // can_infer_option (choices A-E).
  if (response.find("Failed to obtain answer via API") == std::string_view::npos) {
    const std::vector<std::string> splits = pytext::split(response);
    const auto has = [&](const std::string& token) {
      return std::find(splits.begin(), splits.end(), token) != splits.end();
    };
    const auto count = [&](std::string_view prefix, std::string_view suffix) {
      int n = 0;
      for (char c : std::string_view("ABCDE"))
        if (has(std::string(prefix) + c + std::string(suffix))) ++n;
      return n;
    };
    if (count("", "") == 1) {
      // A lone "A" in a longer answer may be the article: fall through to the decorated forms.
      if (!(has("A") && splits.size() > 3))
        for (char c : std::string_view("ABCDE"))
          if (has(std::string(1, c))) return c;
    }
    static const std::pair<const char*, const char*> kDecorations[] = {
        {"", "."}, {"", ","}, {"", ":"}, {"", ")"}, {"", ")."}, {"(", ")"},
        {"(", ")."}, {":", ""}, {":", ","}, {":", "."}, {":", ")"}, {":", ")."}};
    for (const auto& [prefix, suffix] : kDecorations)
      if (count(prefix, suffix) == 1)
        for (char c : std::string_view("ABCDE"))
          if (has(prefix + std::string(1, c) + suffix)) return c;
  }
  // can_infer_text over the options A-D that exist (a missing option is NaN in lmms-eval's frame).
  const std::string answer = pytext::lower(response);
  std::optional<char> found;
  int hits = 0;
  for (int k = 0; k < 4; ++k) {
    if (!options[k]) continue;
    if (answer.find(pytext::lower(*options[k])) != std::string::npos) {
      ++hits;
      found = static_cast<char>('A' + k);
    }
  }
  return hits == 1 ? found : std::nullopt;
}

MmbenchScores mmbench_circular_scores(const std::vector<MmbenchAnswer>& answers) {
  constexpr int64_t kCircle = 1'000'000;
  std::vector<const MmbenchAnswer*> rows;
  for (const MmbenchAnswer& a : answers) rows.push_back(&a);
  std::stable_sort(rows.begin(), rows.end(), [](auto* x, auto* y) { return x->index < y->index; });
  std::map<int64_t, std::string> gold;
  for (const MmbenchAnswer* r : rows) gold[r->index] = r->answer;
  std::map<int64_t, std::vector<const MmbenchAnswer*>> variants;  // main index -> its rows by index
  for (const MmbenchAnswer* r : rows) {
    LOWBIT_CHECK(r->index >= 0, "MMBench: negative index ", r->index);
    variants[r->index % kCircle].push_back(r);
  }

  PythonRandom rng(2680);
  MmbenchScores out;
  std::map<std::string, std::pair<int64_t, int64_t>> per_category;  // hits, questions
  std::map<int64_t, int> result;
  int64_t hits = 0;
  for (const MmbenchAnswer* main : rows) {
    if (main->index >= kCircle) continue;
    int hit;
    if (auto it = result.find(main->index); it != result.end()) {
      hit = it->second;
    } else {
      // eval_sub_data: every variant the rules can read must be right, then each unreadable one
      // draws a letter; the first wrong one ends the question (and the draws for it).
      const std::vector<const MmbenchAnswer*>& group = variants[main->index];
      std::vector<std::optional<char>> pred;
      hit = 1;
      for (const MmbenchAnswer* r : group) {
        pred.push_back(mmbench_infer(r->response, r->options));
        if (pred.back() && std::string(1, *pred.back()) != gold[r->index]) {
          hit = 0;
          break;
        }
      }
      for (std::size_t i = 0; hit == 1 && i < group.size(); ++i) {
        if (pred[i]) continue;
        const char drawn = "ABCDE"[rng.randint(0, 4)];
        ++out.judged_randomly;
        if (std::string(1, drawn) != gold[group[i]->index]) hit = 0;
      }
      result[main->index] = hit;
    }
    hits += hit;
    ++out.questions;
    auto& c = per_category[main->category];
    c.first += hit;
    ++c.second;
  }
  LOWBIT_CHECK(out.questions > 0, "MMBench: no question with an index below 1000000");
  out.accuracy = static_cast<double>(hits) / static_cast<double>(out.questions) * 100;
  for (const auto& [name, c] : per_category)
    out.categories.emplace_back(name, static_cast<double>(c.first) / static_cast<double>(c.second));
  return out;
}

}  // namespace lowbit::mm
