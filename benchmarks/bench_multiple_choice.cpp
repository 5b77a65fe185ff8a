// lowbit_mc_bench: multiple-choice scoring throughput, the plain path (every request its own
// sequence) against shared contexts (each question's context run once, its keys/values reused by
// every ending), on one task file in lowbit's data layout. Run by
// benchmarks/compare_mc_eval_with_lm_eval.py beside lm-eval; nothing here is asserted.
//   lowbit_mc_bench --model DIR --data hellaswag/validation.jsonl [--task hellaswag] [--threads T]
//                   [--micro-batch M] [--repeat N] [--out FILE.json]
// Requests are built as `lowbit eval --tokenization joint` builds them (lm-eval 0.4's convention);
// the timed part is score_requests (the model is loaded once, before). Prints, per path, seconds,
// requests/s, acc and acc_norm; --out also writes every log-likelihood.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "evaluation/multiple_choice.h"
#include "evaluation/pipeline_scorer.h"
#include "evaluation/python_text.h"
#include "framework/core/error.h"
#include "framework/dist/communicator.h"
#include "framework/model/llama_weights.h"
#include "framework/model/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
using lowbit::ScoreRequest;

// lm-eval 0.4's pairing (evaluation/evaluate.cpp, --tokenization joint): trailing spaces of the
// context move to the continuation; the whole is tokenized and split after the context's tokens.
ScoreRequest joint_request(const lowbit::Tokenizer& tok, const std::string& context, const std::string& continuation) {
  const std::string ctx = lowbit::pytext::rstrip(context);
  const std::string cont = context.substr(ctx.size()) + continuation;
  ScoreRequest r;
  r.ids = tok.encode(ctx + cont, false);
  r.score_from = static_cast<int64_t>(std::min(tok.encode(ctx, false).size(), r.ids.size()));
  return r;
}

struct Run {
  double seconds = 0;
  std::vector<double> loglik;
  double acc = 0, acc_norm = 0;
};

Run score(const lowbit::LlamaWeights& w, const std::vector<lowbit::McDoc>& docs, const std::vector<ScoreRequest>& reqs,
          bool share, int64_t micro_batch, int repeat) {
  lowbit::ScoreOptions o;
  o.micro_batch = micro_batch;
  o.share_prefixes = share;
  Run run;
  run.seconds = 1e30;
  std::vector<lowbit::ScoreResult> res;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = Clock::now();
    res = lowbit::score_requests(w, lowbit::single_rank(), reqs, o);
    run.seconds = std::min(run.seconds, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::size_t k = 0;
  for (const lowbit::McDoc& d : docs) {
    std::size_t best = 0, best_norm = 0;
    double top = -1e300, top_norm = -1e300;
    for (std::size_t c = 0; c < d.continuations.size(); ++c, ++k) {
      const double ll = res[k].logprob, norm = ll / static_cast<double>(d.choice_chars[c]);
      run.loglik.push_back(ll);
      if (ll > top) top = ll, best = c;  // first maximum on ties, as numpy's argmax
      if (norm > top_norm) top_norm = norm, best_norm = c;
    }
    run.acc += best == static_cast<std::size_t>(d.gold);
    run.acc_norm += best_norm == static_cast<std::size_t>(d.gold);
  }
  run.acc /= static_cast<double>(docs.size());
  run.acc_norm /= static_cast<double>(docs.size());
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lowbit_mc_bench: multiple-choice scoring, plain vs shared contexts"};
  std::string model, data, task = "hellaswag", out;
  int threads = 0, repeat = 1;
  int64_t micro_batch = 4;
  app.add_option("--model", model, "Model directory (config.json, safetensors, tokenizer.json)")->required();
  app.add_option("--data", data, "The task's data file (JSONL, Hugging Face schema)")->required();
  app.add_option("--task", task, "piqa, arc_easy, arc_challenge, hellaswag or winogrande")->capture_default_str();
  app.add_option("--threads", threads, "libtorch intra-op threads (0: libtorch's default)");
  app.add_option("--micro-batch", micro_batch, "ScoreOptions::micro_batch")->capture_default_str();
  app.add_option("--repeat", repeat, "Timed repetitions per path (the best is reported)")->capture_default_str();
  app.add_option("--out", out, "JSON file for the figures and every log-likelihood");
  try {
    app.parse(argc, argv);
    if (threads > 0) at::set_num_threads(threads);
    const lowbit::McTask* t = lowbit::find_multiple_choice_task(task);
    LOWBIT_CHECK(t != nullptr, "unknown task '", task, "'");
    const lowbit::Tokenizer tok = lowbit::Tokenizer::from_file(model + "/tokenizer.json");
    const auto t0 = Clock::now();
    const std::vector<lowbit::McDoc> docs = lowbit::load_multiple_choice(*t, data);
    std::vector<ScoreRequest> reqs;
    for (const lowbit::McDoc& d : docs)
      for (std::size_t c = 0; c < d.continuations.size(); ++c)
        reqs.push_back(joint_request(tok, d.context(c), d.continuations[c]));
    const double prepare = std::chrono::duration<double>(Clock::now() - t0).count();
    const lowbit::LlamaWeights w = lowbit::load_llama(model);  // fp32 on the CPU
    fmt::print("{} documents, {} requests ({:.2f} s to read and tokenize), {} threads, micro-batch {}\n", docs.size(),
               reqs.size(), prepare, at::get_num_threads(), micro_batch);
    nlohmann::json doc = {{"documents", docs.size()}, {"requests", reqs.size()}, {"prepare_seconds", prepare},
                          {"threads", at::get_num_threads()}, {"micro_batch", micro_batch}};
    for (const bool share : {false, true}) {
      const Run r = score(w, docs, reqs, share, micro_batch, repeat);
      const char* name = share ? "shared" : "plain";
      fmt::print("{:<7} {:8.2f} s  {:7.3f} requests/s  acc {:.4f}  acc_norm {:.4f}\n", name, r.seconds,
                 reqs.size() / r.seconds, r.acc, r.acc_norm);
      doc[name] = {{"seconds", r.seconds}, {"requests_per_s", reqs.size() / r.seconds}, {"acc", r.acc},
                   {"acc_norm", r.acc_norm}, {"loglikelihoods", r.loglik}};
    }
    if (!out.empty()) std::ofstream(out) << doc.dump(1) << "\n";
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "lowbit_mc_bench: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
