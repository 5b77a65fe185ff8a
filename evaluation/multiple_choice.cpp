#include "evaluation/multiple_choice.h"

#include <nlohmann/json.hpp>

#include "evaluation/json_fields.h"
#include "evaluation/python_text.h"
#include "framework/core/error.h"
#include "framework/data/text_corpus.h"

namespace lowbit {
namespace {

using json = nlohmann::json;
using jsonf::field;
using jsonf::label;
using jsonf::text_field;
using jsonf::text_list;

// Shared context, " " + choice continuations: the harness's default multiple-choice request.
McDoc with_choices(std::string context, const std::vector<std::string>& choices, int64_t gold) {
  McDoc d;
  d.contexts = {std::move(context)};
  for (const std::string& c : choices) {
    d.continuations.push_back(std::string(" ").append(c));
    d.choice_chars.push_back(pytext::length(c));
  }
  d.gold = gold;
  return d;
}

McDoc piqa(const json& doc, const std::string& where) {
  const std::vector<std::string> choices = {text_field(doc, "sol1", where), text_field(doc, "sol2", where)};
  return with_choices("Question: " + text_field(doc, "goal", where) + "\nAnswer:", choices,
                      label(doc, "label", 0, 2, where));
}

McDoc arc(const json& doc, const std::string& where) {
  const json& ch = field(doc, "choices", where);
  LOWBIT_CHECK(ch.is_object() && ch.contains("text") && ch.contains("label"), where,
               ": field 'choices' must hold 'text' and 'label' lists");
  const std::vector<std::string> text = text_list(ch["text"], "choices.text", where);
  const std::vector<std::string> labels = text_list(ch["label"], "choices.label", where);
  LOWBIT_CHECK(text.size() == labels.size(), where, ": choices.text and choices.label differ in length");
  const std::string key = text_field(doc, "answerKey", where);
  int64_t gold = -1;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == key) gold = static_cast<int64_t>(i);
  LOWBIT_CHECK(gold >= 0, where, ": answerKey '", key, "' is not one of choices.label");
  return with_choices("Question: " + text_field(doc, "question", where) + "\nAnswer:", text, gold);
}

McDoc hellaswag(const json& doc, const std::string& where) {
  const std::string ctx = text_field(doc, "ctx_a", where) + " " + pytext::capitalize(text_field(doc, "ctx_b", where));
  std::vector<std::string> endings = text_list(field(doc, "endings", where), "endings", where);
  for (std::string& e : endings) e = hellaswag_preprocess(e);
  return with_choices(hellaswag_preprocess(text_field(doc, "activity_label", where) + ": " + ctx), endings,
                      label(doc, "label", 0, endings.size(), where));
}

McDoc winogrande(const json& doc, const std::string& where) {
  const std::string sentence = text_field(doc, "sentence", where);
  const std::size_t blank = sentence.find('_');
  LOWBIT_CHECK(blank != std::string::npos, where, ": field 'sentence' has no '_' blank");
  McDoc d;
  for (const char* option : {"option1", "option2"}) {
    d.contexts.push_back(sentence.substr(0, blank) + text_field(doc, option, where));
    d.choice_chars.push_back(pytext::length(d.contexts.back()));
  }
  const std::string target = std::string(" ").append(pytext::strip(sentence.substr(blank + 1)));
  d.continuations = {target, target};
  d.gold = label(doc, "answer", 1, 2, where);
  return d;
}

}  // namespace

std::string hellaswag_preprocess(const std::string& text) {
  std::string s = pytext::replace_all(pytext::strip(text), " [title]", ". ");
  // re.sub("\\[.*?\\]", "", s): a '[' up to the nearest ']' on the same line.
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '[') {
      std::size_t j = i + 1;
      while (j < s.size() && s[j] != ']' && s[j] != '\n') ++j;
      if (j < s.size() && s[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return pytext::replace_all(out, "  ", " ");
}

const std::vector<McTask>& multiple_choice_tasks() {
  static const std::vector<McTask> tasks = {
      {"piqa", "piqa/validation.jsonl", "validation", true, piqa},
      {"arc_easy", "arc_easy/test.jsonl", "test", true, arc},
      {"arc_challenge", "arc_challenge/test.jsonl", "test", true, arc},
      {"hellaswag", "hellaswag/validation.jsonl", "validation", true, hellaswag},
      {"winogrande", "winogrande/validation.jsonl", "validation", false, winogrande},
  };
  return tasks;
}

const McTask* find_multiple_choice_task(const std::string& name) {
  for (const McTask& t : multiple_choice_tasks())
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<McDoc> load_multiple_choice(const McTask& task, const std::string& path, int64_t limit) {
  std::vector<McDoc> docs;
  for_each_jsonl_object(path, [&](const json& doc, int64_t line) {
    if (limit > 0 && static_cast<int64_t>(docs.size()) >= limit) return;
    docs.push_back(task.format(doc, path + ":" + std::to_string(line)));
  });
  LOWBIT_CHECK(!docs.empty(), path, ": no documents for task ", task.name);
  return docs;
}

}  // namespace lowbit
