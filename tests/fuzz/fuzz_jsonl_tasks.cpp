// Fuzzes the line-oriented data readers: JSONL documents of the zero-shot tasks with their
// formatters (evaluation/multiple_choice.*, json_fields.*, python_text.*), MMLU questions and
// prompts (evaluation/mmlu.*), and the corpus readers (framework/data/text_corpus.*: plain text
// split into documents, JSONL `text` fields, .json.gz).
// Input: the first byte picks the reader (below), the rest is the file.
#include "evaluation/mmlu.h"
#include "evaluation/multiple_choice.h"
#include "framework/data/text_corpus.h"
#include "tests/fuzz/fuzz_support.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view file(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::vector<McTask>& tasks = multiple_choice_tasks();
  const std::size_t mode = data[0] % (tasks.size() + 4);
  const char* ext = mode == tasks.size() + 3 ? ".json.gz" : mode == tasks.size() + 1 ? ".txt" : ".jsonl";
  const auto path = (fuzz::scratch_dir() / "data").string() + ext;
  fuzz::write_file(path, file);
  fuzz::refusing([&] {
    if (mode < tasks.size()) {  // piqa, arc_easy, arc_challenge, hellaswag, winogrande
      for (const McDoc& d : load_multiple_choice(tasks[mode], path, /*limit=*/0)) {
        fuzz::require(!d.continuations.empty() && d.gold >= 0 && d.gold < static_cast<int64_t>(d.continuations.size()),
                      "document with a gold choice outside its choices");
        fuzz::require(d.contexts.size() == 1 || d.contexts.size() == d.continuations.size(), "contexts do not fit choices");
        fuzz::require(d.choice_chars.size() == d.continuations.size(), "one length per choice");
        for (std::size_t i = 0; i < d.continuations.size(); ++i) (void)d.context(i).size();
      }
    } else if (mode == tasks.size()) {  // MMLU: questions, then their prompts and categories
      const std::vector<MmluQuestion> qs = read_mmlu(path);
      std::vector<const MmluQuestion*> dev;
      for (const MmluQuestion& q : qs) dev.push_back(&q);
      for (std::size_t i = 0; i < qs.size() && i < 8; ++i) {
        (void)mmlu_prompt(qs[i], dev, 5);
        (void)mmlu_category(mmlu_subcategory().at(qs[i].subject));
      }
    } else if (mode == tasks.size() + 1) {  // plain text corpus: documents between blank lines
      for (const std::string& d : read_documents(path, "\n\n")) fuzz::require(!d.empty(), "empty document kept");
    } else if (mode == tasks.size() + 2) {  // JSONL corpus: the `text` fields joined
      (void)read_corpus_text(path, "\n\n");
    } else {  // the same as gzip-compressed JSONL (C4's .json.gz): damaged archives are refused
      (void)read_documents(path);
    }
  });
  return 0;
}
