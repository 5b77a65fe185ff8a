#include "evaluation/mmlu.h"

#include <nlohmann/json.hpp>

#include "evaluation/json_fields.h"
#include "framework/core/error.h"
#include "framework/data/text_corpus.h"

namespace lowbit {

std::vector<MmluQuestion> read_mmlu(const std::string& path) {
  std::vector<MmluQuestion> out;
  for_each_jsonl_object(path, [&](const nlohmann::json& j, int64_t line) {
    const std::string where = path + ":" + std::to_string(line);
    MmluQuestion q;
    q.question = jsonf::text_field(j, "question", where);
    q.subject = jsonf::text_field(j, "subject", where);
    q.choices = jsonf::text_list(jsonf::field(j, "choices", where), "choices", where);
    LOWBIT_CHECK(q.choices.size() == 4, where, ": field 'choices' must hold 4 strings, got ", q.choices.size());
    q.answer = jsonf::label(j, "answer", 0, 4, where);
    LOWBIT_CHECK(mmlu_subcategory().count(q.subject), where, ": subject '", q.subject, "' is not an MMLU subject");
    out.push_back(std::move(q));
  });
  LOWBIT_CHECK(!out.empty(), path, ": no MMLU questions");
  return out;
}

namespace {

const char* const kLetters[4] = {"A", "B", "C", "D"};

// The reference's format_example: question, "\nA. ..", "\nAnswer:", and for shots " X\n\n".
std::string example(const MmluQuestion& q, bool with_answer) {
  std::string s = q.question;
  for (std::size_t j = 0; j < q.choices.size(); ++j) s.append("\n").append(kLetters[j]).append(". ").append(q.choices[j]);
  s.append("\nAnswer:");
  if (with_answer) s.append(" ").append(kLetters[q.answer]).append("\n\n");
  return s;
}

}  // namespace

std::string mmlu_prompt(const MmluQuestion& q, const std::vector<const MmluQuestion*>& dev, int64_t shots) {
  // format_subject joins the words each with a leading space, so the header has two spaces
  // after "about", as in the reference.
  std::string subject;
  for (std::size_t pos = 0;;) {
    const std::size_t us = q.subject.find('_', pos);
    subject.append(" ").append(q.subject, pos, us == std::string::npos ? std::string::npos : us - pos);
    if (us == std::string::npos) break;
    pos = us + 1;
  }
  std::string p = "The following are multiple choice questions (with answers) about ";
  p.append(subject).append(".\n\n");
  for (int64_t i = 0; i < shots && i < static_cast<int64_t>(dev.size()); ++i) p.append(example(*dev[i], true));
  return p.append(example(q, false));
}

const std::map<std::string, std::string>& mmlu_subcategory() {
  static const std::map<std::string, std::string> m = {
      {"abstract_algebra", "math"}, {"anatomy", "health"}, {"astronomy", "physics"},
      {"business_ethics", "business"}, {"clinical_knowledge", "health"}, {"college_biology", "biology"},
      {"college_chemistry", "chemistry"}, {"college_computer_science", "computer science"},
      {"college_mathematics", "math"}, {"college_medicine", "health"}, {"college_physics", "physics"},
      {"computer_security", "computer science"}, {"conceptual_physics", "physics"}, {"econometrics", "economics"},
      {"electrical_engineering", "engineering"}, {"elementary_mathematics", "math"}, {"formal_logic", "philosophy"},
      {"global_facts", "other"}, {"high_school_biology", "biology"}, {"high_school_chemistry", "chemistry"},
      {"high_school_computer_science", "computer science"}, {"high_school_european_history", "history"},
      {"high_school_geography", "geography"}, {"high_school_government_and_politics", "politics"},
      {"high_school_macroeconomics", "economics"}, {"high_school_mathematics", "math"},
      {"high_school_microeconomics", "economics"}, {"high_school_physics", "physics"},
      {"high_school_psychology", "psychology"}, {"high_school_statistics", "math"},
      {"high_school_us_history", "history"}, {"high_school_world_history", "history"}, {"human_aging", "health"},
      {"human_sexuality", "culture"}, {"international_law", "law"}, {"jurisprudence", "law"},
      {"logical_fallacies", "philosophy"}, {"machine_learning", "computer science"}, {"management", "business"},
      {"marketing", "business"}, {"medical_genetics", "health"}, {"miscellaneous", "other"},
      {"moral_disputes", "philosophy"}, {"moral_scenarios", "philosophy"}, {"nutrition", "health"},
      {"philosophy", "philosophy"}, {"prehistory", "history"}, {"professional_accounting", "other"},
      {"professional_law", "law"}, {"professional_medicine", "health"}, {"professional_psychology", "psychology"},
      {"public_relations", "politics"}, {"security_studies", "politics"}, {"sociology", "culture"},
      {"us_foreign_policy", "politics"}, {"virology", "health"}, {"world_religions", "philosophy"},
  };
  return m;
}

std::string mmlu_category(const std::string& sub) {
  for (const char* s : {"physics", "chemistry", "biology", "computer science", "math", "engineering"})
    if (sub == s) return "STEM";
  for (const char* s : {"history", "philosophy", "law"})
    if (sub == s) return "humanities";
  for (const char* s : {"politics", "culture", "economics", "geography", "psychology"})
    if (sub == s) return "social sciences";
  return "other";  // other, business, health
}

}  // namespace lowbit
