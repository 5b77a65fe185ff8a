#include "evaluation/evaluate.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "evaluation/eval_model.h"
#include "evaluation/mmlu.h"
#include "evaluation/multiple_choice.h"
#include "evaluation/perplexity.h"
#include "evaluation/pipeline_scorer.h"
#include "evaluation/python_text.h"
#include "evaluation/visual_eval.h"
#include "evaluation/visual_tasks.h"
#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/data/calibration.h"
#include "framework/data/text_corpus.h"
#include "framework/dist/communicator.h"
#include "framework/dist/partition_plan.h"
#include "framework/dist/rank_devices.h"
#include "framework/core/device.h"
#include "framework/model/fingerprint.h"
#include "framework/model/llama_config.h"
#include "framework/model/llava_next.h"
#include "framework/model/tokenizer.h"

namespace lowbit {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct PerplexityTask {
  const char* name;
  const char* file;
  bool documents;  // C4: random windows of random documents; else one stream cut into windows
};
const PerplexityTask kPerplexityTasks[] = {
    {"wikitext2", "wikitext2/test.txt", false},
    {"c4", "c4/c4-validation.00000-of-00008.json.gz", true},
    {"ptb", "ptb/test.txt", false},
};

const PerplexityTask* find_perplexity_task(const std::string& name) {
  for (const PerplexityTask& t : kPerplexityTasks)
    if (name == t.name) return &t;
  return nullptr;
}

std::string file_fingerprint(const std::string& path) {
  const std::string bytes = read_file(path);
  Fnv1a f;
  f.add(bytes.data(), bytes.size());
  return f.hex();
}

std::string known_list();

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Mean and its standard error (sample standard deviation / sqrt(n)), as lm-eval reports them.
std::pair<double, double> mean_stderr(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  double mean = 0;
  for (double v : x) mean += v;
  mean /= n;
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  return {mean, x.size() > 1 ? std::sqrt(var / (n - 1) / n) : 0.0};
}

int64_t argmax(const std::vector<double>& v) {  // first maximum, as numpy
  return std::max_element(v.begin(), v.end()) - v.begin();
}

// Context and continuation token ids with the chosen convention: "separate" (each tokenized on its
// own, the study's harness) or "joint" (lm-eval 0.4: trailing spaces of the context move to the
// continuation, the whole is tokenized and split after the context's tokens).
std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_pair(const Tokenizer& tok, std::string ctx,
                                                                  std::string cont, const std::string& mode) {
  LOWBIT_CHECK(!ctx.empty(), "a multiple-choice context is empty");
  if (mode == "separate") return {tok.encode(ctx, false), tok.encode(cont, false)};
  const std::string trimmed = pytext::rstrip(ctx);
  cont = ctx.substr(trimmed.size()) + cont;
  ctx = trimmed;
  const std::vector<int32_t> whole = tok.encode(ctx + cont, false), c = tok.encode(ctx, false);
  return {c, std::vector<int32_t>(whole.begin() + static_cast<std::ptrdiff_t>(std::min(c.size(), whole.size())), whole.end())};
}

class Evaluator {
 public:
  Evaluator(const EvalTarget& target, const EvalSettings& s, Communicator& world)
      : target_(target), s_(s), devices_(setup_rank_devices(world, s.device, s.backend, "--device", "--backend")),
        comm_(devices_.pipeline(world)) {}

  // Every option against what lowbit knows and the model's limits, before any work.
  void check_settings() const {
    const auto is_known = [](const std::string& t) {
      return std::find(known_eval_tasks().begin(), known_eval_tasks().end(), t) != known_eval_tasks().end();
    };
    LOWBIT_CHECK(s_.tokenization == "separate" || s_.tokenization == "joint",
                 "--tokenization must be 'separate' or 'joint', got '", s_.tokenization, "'");
    LOWBIT_CHECK(s_.seq_len >= 2, "--seq-len must be >= 2, got ", s_.seq_len);
    LOWBIT_CHECK(s_.seq_len <= config_.max_position_embeddings, "--seq-len ", s_.seq_len, " is beyond the ",
                 config_.max_position_embeddings, " positions of ", target_.model_dir, " (max_position_embeddings)");
    LOWBIT_CHECK(s_.mmlu_max_tokens <= config_.max_position_embeddings, "--mmlu-max-tokens ", s_.mmlu_max_tokens,
                 " is beyond the ", config_.max_position_embeddings, " positions of ", target_.model_dir);
    LOWBIT_CHECK(s_.limit >= 0, "--limit must be >= 0 (0: all), got ", s_.limit);
    LOWBIT_CHECK(s_.c4_windows >= 1, "--c4-windows must be >= 1, got ", s_.c4_windows);
    LOWBIT_CHECK(s_.micro_batch >= 1, "--micro-batch must be >= 1, got ", s_.micro_batch);
    LOWBIT_CHECK(s_.mmlu_shots >= 0 && s_.mmlu_max_tokens >= 1, "--mmlu-shots must be >= 0 and --mmlu-max-tokens >= 1");
    std::set<std::string> seen;
    for (const std::string& t : s_.tasks) {
      LOWBIT_CHECK(is_known(t), "--tasks: unknown task '", t, "' (known: ", known_list(), ")");
      LOWBIT_CHECK(seen.insert(t).second, "--tasks names '", t, "' twice");
      LOWBIT_CHECK(!find_visual_task(t) || config_.multimodal(), "--tasks: ", t, " is a visual benchmark; ",
                   target_.model_dir, " is a text-only model (", config_.model_type,
                   "); it needs a LLaVA-NeXT checkpoint (docs/multimodal.md)");
    }
    for (const auto& [t, file] : s_.data_files)
      LOWBIT_CHECK(seen.count(t), "--data ", t, "=", file, ": '", t, "' is not among --tasks (",
                   is_known(t) ? "add it there, or drop this --data"
                       : "and is not a task lowbit knows: " + known_list(),
                   ")");
  }

  json run() {
    const auto start = std::chrono::steady_clock::now();
    const bool root = comm_.rank() == 0;
    collective_step(comm_, [&] {
      config_ = LlamaConfig::from_file((fs::path(target_.model_dir) / "config.json").string());
      PlanSettings ps;
      ps.ranks = comm_.size();
      plan_ = make_partition_plan(config_, ps);
      check_settings();
      if (root) {
        tok_ = std::make_unique<Tokenizer>(Tokenizer::from_file((fs::path(target_.model_dir) / "tokenizer.json").string()));
        for (const std::string& t : s_.tasks) {
          for (const std::string& f : files_of(t))
            LOWBIT_CHECK(fs::exists(f), "task ", t, ": data file ", f,
                         " does not exist (launch/prepare_data.py writes the data sets in this layout; see "
                         "docs/evaluation.md)");
        }
      }
      dtypes_ = compute_dtypes(devices_.device, config_, "model");
      w_ = load_eval_part(target_, plan_.ranks[comm_.rank()], devices_.device, dtypes_.weights);
      // The vision tower and projector stay in full precision on rank 0, beside the embedding.
      const bool visual = std::any_of(s_.tasks.begin(), s_.tasks.end(), [](const std::string& t) { return find_visual_task(t); });
      if (root && visual) vision_ = std::make_unique<LlavaNextVision>(load_llava_next_vision(target_.model_dir, dtypes_.weights, devices_.device));
    });
    if (root) {
      std::printf("%sdtypes: weights %s, activations %s\n", devices_.banner().c_str(), float_dtype_name(dtypes_.weights).c_str(),
                  float_dtype_name(dtypes_.activations).c_str());
      std::fflush(stdout);
    }
    json results = {{"format", "lowbit-results"},
                    {"version", 1},
                    {"target", target_json(target_)},
                    {"settings",
                     {{"seq_len", s_.seq_len},
                      {"limit", s_.limit},
                      {"micro_batch", s_.micro_batch},
                      {"c4_windows", s_.c4_windows},
                      {"c4_seed", s_.c4_seed},
                      {"tokenization", s_.tokenization},
                      {"mmlu_shots", s_.mmlu_shots},
                      {"mmlu_max_tokens", s_.mmlu_max_tokens},
                      {"share_contexts", s_.share_contexts},
                      {"device", devices_.device.is_cuda() ? "cuda" : "cpu"},
                      {"dtype", float_dtype_name(dtypes_.weights)}}},
                    {"world_size", comm_.size()},
                    {"tasks", json::object()}};
    for (const std::string& t : s_.tasks) {
      const auto t0 = std::chrono::steady_clock::now();
      json r;
      if (find_perplexity_task(t)) {
        r = perplexity_task(*find_perplexity_task(t));
      } else if (t == "mmlu") {
        r = mmlu_task();
      } else if (const VisualTask* v = find_visual_task(t)) {
        r = visual_task(*v);
      } else {
        r = multiple_choice_task(*find_multiple_choice_task(t));
      }
      if (!root) continue;
      r["seconds"] = seconds_since(t0);
      json files = json::object();
      for (const std::string& f : files_of(t)) files[f] = file_fingerprint(f);
      r["data_files"] = files;
      results["tasks"][t] = r;
      std::printf("eval %-13s %s  (%.1f s)\n", t.c_str(), headline(t, r).c_str(), r["seconds"].get<double>());
      std::fflush(stdout);
    }
    results["seconds"] = seconds_since(start);
    return root ? results : json();
  }

 private:
  std::vector<std::string> files_of(const std::string& task) const {
    if (task == "mmlu") {
      const std::string test = eval_data_file(s_, "mmlu");
      std::string dev = test;
      const std::size_t at = dev.rfind("test");
      LOWBIT_CHECK(at != std::string::npos, "task mmlu: the data file ", test, " has no 'test' in its name to find the dev file by");
      return {test, dev.replace(at, 4, "dev")};
    }
    return {eval_data_file(s_, task)};
  }

  static std::string headline(const std::string& task, const json& r) {
    if (r.contains("perplexity")) return fmt::format("perplexity {:.4f} over {} windows", r["perplexity"].get<double>(), r["windows"].get<int64_t>());
    if (task == "mmlu") return fmt::format("acc {:.4f} over {} questions", r["acc"].get<double>(), r["questions"].get<int64_t>());
    if (find_visual_task(task)) {
      std::string s;
      for (const char* k : {"exact_match", "relaxed_overall", "anls", "gpt_eval_score", "mme_perception_score", "mme_cognition_score"})
        if (r.contains(k)) s += fmt::format("{}{} {:.4f}", s.empty() ? "" : "  ", k, r[k].get<double>());
      return s + fmt::format(" over {} questions", r["docs"].get<int64_t>());
    }
    std::string s = fmt::format("acc {:.4f}", r["acc"].get<double>());
    if (r.contains("acc_norm")) s += fmt::format("  acc_norm {:.4f}", r["acc_norm"].get<double>());
    return s + fmt::format(" over {} documents", r["docs"].get<int64_t>());
  }

  // Requests built on rank 0 inside a collective step (a data error stops every rank, reported once),
  // then scored over the pipeline.
  std::vector<ScoreResult> score(const std::string& what, const std::function<std::vector<ScoreRequest>()>& build) {
    std::vector<ScoreRequest> requests;
    collective_step(comm_, [&] {
      if (comm_.rank() == 0) requests = build();
    });
    ScoreOptions o;
    o.micro_batch = s_.micro_batch;
    o.share_prefixes = s_.share_contexts;
    auto last = std::chrono::steady_clock::now();
    o.progress = [&](int64_t done, int64_t total) {
      if (seconds_since(last) < 10 && done < total) return;
      last = std::chrono::steady_clock::now();
      std::printf("  %s: %lld/%lld sequences\n", what.c_str(), static_cast<long long>(done), static_cast<long long>(total));
      std::fflush(stdout);
    };
    std::vector<ScoreResult> res = score_requests(w_, comm_, requests, o);
    // A NaN or Inf log-likelihood would become a plausible-looking (or null) number in the results.
    collective_step(comm_, [&] {
      for (std::size_t i = 0; i < res.size(); ++i) {
        bool finite = std::isfinite(res[i].logprob);
        for (double c : res[i].candidate_logprobs) finite = finite && std::isfinite(c);
        LOWBIT_CHECK(finite, what, ": the log-likelihood of sequence ", i, " is not finite: the model (or its quantized "
                     "blocks) produces NaN/Inf activations; nothing was written");
      }
    });
    return res;
  }

  json perplexity_task(const PerplexityTask& task) {
    const std::vector<ScoreResult> res = score(task.name, [&] {
      const std::string path = eval_data_file(s_, task.name);
      if (!task.documents)  // the text tokenized once (with BOS, as the reference's tokenizer call), cut into windows
        return perplexity_windows(tok_->encode(read_corpus_text(path)), s_.seq_len, s_.limit, path);
      // C4: windows drawn as the study's loader draws them
      const int64_t n = s_.limit > 0 ? std::min(s_.limit, s_.c4_windows) : s_.c4_windows;
      const CalibrationSet set = sample_document_windows(read_documents(path), *tok_, n, s_.seq_len, s_.c4_seed, path);
      const at::Tensor ids = set.ids.to(at::kInt).contiguous();
      std::vector<ScoreRequest> reqs;
      for (int64_t i = 0; i < ids.size(0); ++i) reqs.push_back(window_request(ids[i].data_ptr<int32_t>(), s_.seq_len));
      return reqs;
    });
    if (comm_.rank() != 0) return json();
    const PerplexityResult p = perplexity_from_scores(res, s_.seq_len);
    return {{"perplexity", p.perplexity},
            {"nll", p.nll},
            {"windows", p.windows},
            {"seq_len", s_.seq_len},
            {"tokens_scored", p.predicted}};
  }

  json multiple_choice_task(const McTask& task) {
    std::vector<McDoc> docs;
    const int64_t max_len = config_.max_position_embeddings;
    const std::vector<ScoreResult> res = score(task.name, [&] {
      docs = load_multiple_choice(task, eval_data_file(s_, task.name), s_.limit);
      std::vector<ScoreRequest> reqs;
      for (const McDoc& d : docs)
        for (std::size_t c = 0; c < d.continuations.size(); ++c) {
          auto [ctx, cont] = encode_pair(*tok_, d.context(c), d.continuations[c], s_.tokenization);
          LOWBIT_CHECK(!cont.empty() && static_cast<int64_t>(cont.size()) <= max_len, "task ", task.name,
                       ": a continuation of ", cont.size(), " tokens (must be 1..", max_len, ")");
          ScoreRequest r;
          r.ids = ctx;
          r.ids.insert(r.ids.end(), cont.begin(), cont.end());
          if (static_cast<int64_t>(r.ids.size()) > max_len + 1)  // left truncation, as the harness
            r.ids.erase(r.ids.begin(), r.ids.end() - (max_len + 1));
          r.score_from = static_cast<int64_t>(r.ids.size() - cont.size());
          reqs.push_back(std::move(r));
        }
      return reqs;
    });
    if (comm_.rank() != 0) return json();
    std::vector<double> acc, acc_norm;
    std::size_t k = 0;
    for (const McDoc& d : docs) {
      std::vector<double> ll, ll_norm;
      for (std::size_t c = 0; c < d.continuations.size(); ++c, ++k) {
        ll.push_back(res[k].logprob);
        ll_norm.push_back(res[k].logprob / static_cast<double>(d.choice_chars[c]));
      }
      acc.push_back(argmax(ll) == d.gold ? 1.0 : 0.0);
      acc_norm.push_back(argmax(ll_norm) == d.gold ? 1.0 : 0.0);
    }
    const auto [a, a_se] = mean_stderr(acc);
    json r = {{"acc", a}, {"acc_stderr", a_se}, {"docs", static_cast<int64_t>(docs.size())}};
    if (task.acc_norm) {
      const auto [n, n_se] = mean_stderr(acc_norm);
      r["acc_norm"] = n;
      r["acc_norm_stderr"] = n_se;
    }
    return r;
  }

  json visual_task(const VisualTask& task) {
    VisualEvalInputs in;
    collective_step(comm_, [&] {
      if (comm_.rank() != 0) return;
      in.tokenizer = tok_.get();
      in.vision = vision_.get();
      in.questions = read_visual_questions(eval_data_file(s_, task.name), s_.limit);
      in.stop_ids = generation_stop_ids(target_.model_dir, config_.eos_token_id);
      in.bos_token_id = static_cast<int32_t>(config_.bos_token_id);
    });
    return run_visual_task(task, w_, comm_, in, s_.micro_batch, s_.log_samples);
  }

  json mmlu_task() {
    std::vector<const MmluQuestion*> asked;
    std::vector<MmluQuestion> test, dev;
    std::vector<int64_t> shots_used;
    const std::vector<ScoreResult> res = score("mmlu", [&] {
      const std::vector<std::string> files = files_of("mmlu");
      test = read_mmlu(files[0]);
      dev = read_mmlu(files[1]);
      std::map<std::string, std::vector<const MmluQuestion*>> dev_by, test_by;
      for (const MmluQuestion& q : dev) dev_by[q.subject].push_back(&q);
      for (const MmluQuestion& q : test) test_by[q.subject].push_back(&q);
      std::vector<int32_t> letters;
      for (const char* l : {"A", "B", "C", "D"}) letters.push_back(tok_->encode(l).back());  // tokenizer("A").input_ids[-1]
      std::vector<ScoreRequest> reqs;
      for (const auto& [subject, qs] : test_by) {  // subjects in sorted order, as the reference
        const auto& shots = dev_by[subject];
        for (std::size_t i = 0; i < qs.size(); ++i) {
          if (s_.limit > 0 && static_cast<int64_t>(i) >= s_.limit) break;
          int64_t k = std::min<int64_t>(s_.mmlu_shots, static_cast<int64_t>(shots.size()));
          ScoreRequest r;
          r.ids = tok_->encode(mmlu_prompt(*qs[i], shots, k));
          while (static_cast<int64_t>(r.ids.size()) > s_.mmlu_max_tokens && k > 0)
            r.ids = tok_->encode(mmlu_prompt(*qs[i], shots, --k));
          r.candidates = letters;
          reqs.push_back(std::move(r));
          asked.push_back(qs[i]);
          shots_used.push_back(k);
        }
      }
      return reqs;
    });
    if (comm_.rank() != 0) return json();
    std::map<std::string, std::pair<int64_t, int64_t>> by_subject, by_sub, by_cat;  // correct, total
    int64_t correct = 0;
    for (std::size_t i = 0; i < asked.size(); ++i) {
      const bool ok = argmax(res[i].candidate_logprobs) == asked[i]->answer;
      const std::string sub = mmlu_subcategory().at(asked[i]->subject);
      for (auto* m : {&by_subject[asked[i]->subject], &by_sub[sub], &by_cat[mmlu_category(sub)]}) {
        m->first += ok;
        m->second += 1;
      }
      correct += ok;
    }
    auto table = [](const std::map<std::string, std::pair<int64_t, int64_t>>& m) {
      json j = json::object();
      for (const auto& [k, v] : m) j[k] = {{"acc", static_cast<double>(v.first) / v.second}, {"questions", v.second}};
      return j;
    };
    const int64_t fewer = std::count_if(shots_used.begin(), shots_used.end(), [&](int64_t k) { return k < s_.mmlu_shots; });
    return {{"acc", static_cast<double>(correct) / static_cast<double>(asked.size())},
            {"questions", static_cast<int64_t>(asked.size())},
            {"questions_with_fewer_shots", fewer},
            {"categories", table(by_cat)},
            {"subcategories", table(by_sub)},
            {"subjects", table(by_subject)}};
  }

  const EvalTarget& target_;
  const EvalSettings& s_;
  RankDevices devices_;
  Communicator& comm_;  // the pipeline's: NCCL between GPUs, else the MPI world
  ComputeDtypes dtypes_;
  LlamaConfig config_;
  PartitionPlan plan_;
  LlamaWeights w_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<LlavaNextVision> vision_;  // rank 0, for the visual tasks
};

std::string known_list() {
  std::string s;
  for (const std::string& t : known_eval_tasks()) s += (s.empty() ? "" : ", ") + t;
  return s;
}

}  // namespace

const std::vector<std::string>& known_eval_tasks() {
  static const std::vector<std::string> k = {"wikitext2", "c4",        "ptb",        "piqa", "arc_easy",
                                             "arc_challenge", "hellaswag", "winogrande", "mmlu",
                                             "ai2d", "chartqa", "docvqa", "mmbench_en", "mme"};
  return k;
}

std::string eval_data_file(const EvalSettings& s, const std::string& task) {
  if (auto it = s.data_files.find(task); it != s.data_files.end()) return it->second;
  if (const PerplexityTask* p = find_perplexity_task(task)) return (fs::path(s.data_dir) / p->file).string();
  if (const McTask* m = find_multiple_choice_task(task)) return (fs::path(s.data_dir) / m->data_file).string();
  if (task == "mmlu") return (fs::path(s.data_dir) / "mmlu/test.jsonl").string();
  if (find_visual_task(task)) return (fs::path(s.data_dir) / task / "questions.jsonl").string();
  LOWBIT_FAIL("unknown task '", task, "'");
}

json target_json(const EvalTarget& t) {
  return {{"path", t.path},
          {"quantized", t.quantized},
          {"model_dir", t.model_dir},
          {"model_name", t.model_name},
          {"model_fingerprint", t.model_fingerprint},
          {"method", t.method},
          {"method_config", t.method_config},
          {"activation_bits", t.activations.bits},  // 16: not quantized (what `lowbit report` prints as #A)
          {"calibration_fingerprint", t.run_fingerprint},
          {"finetune", t.finetune},  // "" | lora | lora+iec: LoRA adapters merged (lowbit finetune)
          {"finetune_fingerprint", t.finetune_fingerprint}};
}

json evaluate(const EvalTarget& target, const EvalSettings& settings, Communicator& comm) {
  return Evaluator(target, settings, comm).run();
}

std::string summary_table(const std::vector<json>& results) {
  struct Column {
    const char* task;
    const char* title;
    bool perplexity;
  };
  const Column cols[] = {{"wikitext2", "WikiText2", true}, {"c4", "C4", true},           {"ptb", "PTB", true},
                         {"piqa", "PIQA", false},          {"arc_easy", "ARC-e", false}, {"arc_challenge", "ARC-c", false},
                         {"hellaswag", "HellaSwag", false}, {"winogrande", "Wino", false}};
  bool mmlu = false;
  for (const json& r : results) mmlu = mmlu || r["tasks"].contains("mmlu");
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"model"};
  for (const Column& c : cols) head.push_back(c.title);
  head.push_back("Avg");
  if (mmlu) head.push_back("MMLU");
  rows.push_back(head);
  for (const json& r : results) {
    const json& t = r["tasks"];
    const json& target = r["target"];
    std::vector<std::string> row = {target["quantized"].get<bool>()
                                        ? fs::path(target["path"].get<std::string>()).filename().string()
                                        : "FP " + target["model_name"].get<std::string>()};
    double sum = 0;
    int n = 0;
    for (const Column& c : cols) {
      if (!t.contains(c.task)) {
        row.push_back("-");
        continue;
      }
      if (c.perplexity) {
        row.push_back(fmt::format("{:.2f}", t[c.task]["perplexity"].get<double>()));
      } else {
        const double a = 100 * t[c.task]["acc"].get<double>();
        row.push_back(fmt::format("{:.1f}", a));
        sum += a;
        ++n;
      }
    }
    row.push_back(n == 5 ? fmt::format("{:.1f}", sum / n) : "-");
    if (mmlu) row.push_back(t.contains("mmlu") ? fmt::format("{:.1f}", 100 * t["mmlu"]["acc"].get<double>()) : "-");
    rows.push_back(row);
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    for (std::size_t i = 0; i < rows[k].size(); ++i) {
      out += i == 0 ? fmt::format("{:<{}}", rows[k][i], width[i]) : fmt::format("  {:>{}}", rows[k][i], width[i]);
      if ((i == 3 || i == 9) && i + 1 < rows[k].size()) out += "  |";
    }
    out += "\n";
    if (k == 0) out += std::string(out.size() - 1, '-') + "\n";
  }
  return out;
}

}  // namespace lowbit
