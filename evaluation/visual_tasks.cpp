#include "evaluation/visual_tasks.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>

#include "evaluation/multimodal_scoring.h"
#include "evaluation/python_text.h"
#include "framework/core/error.h"
#include "framework/model/tokenizer.h"

namespace lowbit {

using nlohmann::json;

namespace {

const char kSystemPrompt[] =
    "You are a helpful language and vision assistant. You are able to understand the visual content that the user "
    "provides, and assist the user with a variety of tasks using natural language.";

std::string text_field(const json& doc, const char* key, const std::string& task) {
  LOWBIT_CHECK(doc.contains(key) && doc[key].is_string(), "task ", task, ": a document without a text field '", key,
               "': ", doc.dump().substr(0, 200));
  return doc[key].get<std::string>();
}

// pd.notna(x) and x != "nan" for a field that may be missing, null or a string.
bool present(const json& doc, const char* key) {
  return doc.contains(key) && doc[key].is_string() && doc[key].get<std::string>() != "nan";
}

// Python's sum(arr) / len(arr): added in order.
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

int64_t int_field(const json& doc, const char* key, const std::string& task) {
  LOWBIT_CHECK(doc.contains(key), "task ", task, ": a document without '", key, "'");
  const json& v = doc[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  LOWBIT_CHECK(v.is_string(), "task ", task, ": field '", key, "' must be an integer, got ", v.dump());
  const std::optional<double> d = pytext::to_float(v.get<std::string>());
  LOWBIT_CHECK(d && *d == static_cast<double>(static_cast<int64_t>(*d)), "task ", task, ": field '", key,
               "' must be an integer, got ", v.dump());
  return static_cast<int64_t>(*d);
}

std::array<std::optional<std::string>, 5> mmbench_options(const json& doc) {
  std::array<std::optional<std::string>, 5> out;
  for (int k = 0; k < 5; ++k) {
    const std::string key(1, static_cast<char>('A' + k));
    if (doc.contains(key) && doc[key].is_string()) out[k] = doc[key].get<std::string>();
  }
  return out;
}

}  // namespace

const std::vector<VisualTask>& visual_tasks() {
  static const std::vector<VisualTask> t = {{"ai2d", "test", 16},
                                            {"chartqa", "test", 16},
                                            {"docvqa", "validation", 32},
                                            {"mmbench_en", "dev", 1024},
                                            {"mme", "test", 16}};
  return t;
}

const VisualTask* find_visual_task(const std::string& name) {
  for (const VisualTask& t : visual_tasks())
    if (t.name == name) return &t;
  return nullptr;
}

std::string visual_prompt(const std::string& task, const json& doc) {
  if (task == "ai2d") {
    LOWBIT_CHECK(doc.contains("options") && doc["options"].is_array(), "task ai2d: a document without an 'options' list");
    std::string choices;
    for (std::size_t i = 0; i < doc["options"].size(); ++i) {
      LOWBIT_CHECK(doc["options"][i].is_string(), "task ai2d: option ", i, " is not text");
      choices += (i ? "\n" : "") + std::string(1, static_cast<char>('A' + i)) + ". " + doc["options"][i].get<std::string>();
    }
    return text_field(doc, "question", task) + "\n" + choices + "\nAnswer with the option's letter from the given choices directly.";
  }
  if (task == "chartqa") return text_field(doc, "question", task) + "\nAnswer the question with a single word.";
  if (task == "docvqa") return text_field(doc, "question", task) + "\nAnswer the question using a single word or phrase.";
  if (task == "mme") {
    const std::string q = pytext::replace_all(pytext::strip(text_field(doc, "question", task)), " Please answer yes or no.", "");
    return q + "\nAnswer the question using a single word or phrase.";
  }
  if (task == "mmbench_en") {
    // create_options_prompt: the keys A-E that are set, sorted, each "K. text" unless it reads "nan".
    std::string options = "There are several options:\n";
    for (char k : std::string_view("ABCDE")) {
      const std::string key(1, k);
      if (present(doc, key.c_str()) && !doc[key].get<std::string>().empty()) options += key + ". " + doc[key].get<std::string>() + "\n";
    }
    while (!options.empty() && options.back() == '\n') options.pop_back();
    const std::string question = text_field(doc, "question", task);
    const std::string query = present(doc, "hint") ? doc["hint"].get<std::string>() + " " + question + " " + options
                                                   : question + " " + options;
    return query + "\n\nAnswer with the option's letter from the given choices directly.";
  }
  LOWBIT_FAIL("unknown visual task '", task, "'");
}

std::string llava_llama3_conversation(const std::string& prompt) {
  // The Llama 3 Instruct template: BOS, then per message a header, the content trimmed, <|eot_id|>.
  return "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + std::string(kSystemPrompt) +
         "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n" + pytext::strip("<image>\n" + prompt) +
         "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
}

std::vector<int32_t> llava_prompt_ids(const Tokenizer& tok, const std::string& conversation, int32_t bos_token_id,
                                      int32_t image_token_id, int64_t image_tokens) {
  const std::string placeholder = "<image>";
  std::vector<std::string> chunks;
  for (std::size_t from = 0;;) {
    const std::size_t at = conversation.find(placeholder, from);
    chunks.push_back(conversation.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) break;
    from = at + placeholder.size();
  }
  LOWBIT_CHECK(chunks.size() == 2, "a LLaVA prompt must hold exactly one <image>, this one holds ", chunks.size() - 1);
  std::vector<int32_t> ids;
  std::size_t offset = 0;
  const std::vector<int32_t> first = tok.encode(chunks[0]);
  if (!first.empty() && first[0] == bos_token_id) {
    offset = 1;
    ids.push_back(bos_token_id);
  }
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    if (c > 0) ids.insert(ids.end(), static_cast<std::size_t>(image_tokens), image_token_id);
    const std::vector<int32_t> part = c == 0 ? first : tok.encode(chunks[c]);
    ids.insert(ids.end(), part.begin() + static_cast<std::ptrdiff_t>(std::min(offset, part.size())), part.end());
  }
  return ids;
}

void check_visual_documents(const std::string& task, const std::vector<json>& docs, const std::string& where) {
  if (task != "mme") return;
  std::map<std::string, int> questions;
  for (const json& d : docs) ++questions[text_field(d, "question_id", task)];
  for (const auto& [id, n] : questions)
    LOWBIT_CHECK(n == 2, where, ": MME image ", id, " has ", n, " question(s) here; MME scores both questions of each "
                 "image (with --limit, give an even number that keeps the pairs whole)");
}

json score_visual_task(const std::string& task, const std::vector<json>& docs, const std::vector<std::string>& responses) {
  LOWBIT_ASSERT(docs.size() == responses.size(), "one response per document");
  LOWBIT_CHECK(!docs.empty(), "task ", task, ": no documents to score");
  const int64_t n = static_cast<int64_t>(docs.size());
  if (task == "ai2d") {
    std::vector<double> s;
    for (std::size_t i = 0; i < docs.size(); ++i) {
      const int64_t answer = int_field(docs[i], "answer", task);
      LOWBIT_CHECK(answer >= 0 && answer < 26, "task ai2d: answer ", answer, " is not an option index");
      s.push_back(mm::ai2d_correct(responses[i], std::string(1, static_cast<char>('A' + answer))) ? 1.0 : 0.0);
    }
    return {{"exact_match", mean(s)}, {"docs", n}};
  }
  if (task == "chartqa") {
    std::vector<double> all, human, augmented;
    for (std::size_t i = 0; i < docs.size(); ++i) {
      const double s = mm::chartqa_relaxed_correct(responses[i], text_field(docs[i], "answer", task)) ? 1.0 : 0.0;
      all.push_back(s);
      (text_field(docs[i], "type", task) == "human_test" ? human : augmented).push_back(s);
    }
    json r = {{"relaxed_overall", mean(all)}, {"docs", n}};
    if (!human.empty()) r["relaxed_human_split"] = mean(human);
    if (!augmented.empty()) r["relaxed_augmented_split"] = mean(augmented);
    return r;
  }
  if (task == "docvqa") {
    std::vector<double> s, any;
    for (std::size_t i = 0; i < docs.size(); ++i) {
      LOWBIT_CHECK(docs[i].contains("answers") && docs[i]["answers"].is_array(), "task docvqa: a document without an 'answers' list");
      const auto refs = docs[i]["answers"].get<std::vector<std::string>>();
      s.push_back(mm::anls(refs, responses[i]));
      any.push_back(mm::anls_any_reference(refs, responses[i]));
    }
    return {{"anls", mean(s)}, {"anls_any_reference", mean(any)}, {"docs", n}};
  }
  if (task == "mme") {
    std::vector<mm::MmeAnswer> answers;
    for (std::size_t i = 0; i < docs.size(); ++i)
      answers.push_back({text_field(docs[i], "question_id", task), text_field(docs[i], "category", task),
                         text_field(docs[i], "answer", task), responses[i]});
    const mm::MmeScores s = mm::mme_scores(answers);
    json categories = json::object();
    for (const auto& [c, v] : s.categories) categories[c] = v;
    // As lmms-eval: a score for each half that has questions (a --limit may leave one out).
    json r = {{"categories", categories}, {"docs", n}};
    bool perception = false, cognition = false;
    for (const mm::MmeAnswer& a : answers) (mm::mme_is_perception(a.category) ? perception : cognition) = true;
    if (perception) r["mme_perception_score"] = s.perception;
    if (cognition) r["mme_cognition_score"] = s.cognition;
    return r;
  }
  if (task == "mmbench_en") {
    std::vector<mm::MmbenchAnswer> answers;
    for (std::size_t i = 0; i < docs.size(); ++i)
      answers.push_back({int_field(docs[i], "index", task), text_field(docs[i], "answer", task),
                         pytext::strip(responses[i]), mmbench_options(docs[i]), text_field(docs[i], "category", task)});
    const mm::MmbenchScores s = mm::mmbench_circular_scores(answers);
    json categories = json::object();
    for (const auto& [c, v] : s.categories) categories[c] = v;
    return {{"gpt_eval_score", s.accuracy}, {"questions", s.questions}, {"judged_randomly", s.judged_randomly},
            {"categories", categories}, {"docs", n}};
  }
  LOWBIT_FAIL("unknown visual task '", task, "'");
}

}  // namespace lowbit
