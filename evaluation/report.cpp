#include "evaluation/report.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/files.h"

namespace lowbit {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// "SliM-LLM" and "slim-llm" -> "slimllm"; the FP baseline rows -> "fp".
std::string canonical_method(const std::string& m) {
  if (m.find("FP16") != std::string::npos || m == "fp16" || m == "fp") return "fp";
  std::string out;
  for (char c : m)
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split_csv_line(const std::string& line) {  // the paper CSVs have no quoted commas
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

struct RunKey {
  std::string method;   // canonical
  double w_bits = 16;
  double a_bits = 16;   // activations (16: not quantized)
  int64_t group = 0;    // 0: per channel
};

RunKey key_of(const json& r) {
  RunKey k;
  const json& t = r.at("target");
  if (!t.value("quantized", false)) {
    k.method = "fp";
    return k;
  }
  k.method = canonical_method(t.value("method", ""));
  const YAML::Node m = YAML::Load(t.value("method_config", std::string("{}")));
  // The LoRA-FT table's rows: NF4 alone ("NormalFloat"), NF4 + LoRA (QLoRA), NF4 with ICQ + LoRA
  // with IEC (IR-QLoRA).
  if (k.method == "nf4") {
    const std::string ft = t.value("finetune", "");
    const bool icq = m["icq"] && m["icq"].as<bool>();
    if (ft.empty()) k.method = icq ? "nf4icq" : "normalfloat";
    else if (ft == "lora+iec" && icq) k.method = "irqlora";
    else if (ft == "lora" && !icq) k.method = "qlora";
    else k.method = "nf4" + std::string(icq ? "icq" : "") + canonical_method(ft);  // no paper row
  }
  // The study's DB-LLM row is the whole method: block-wise FDB, then the deviation-aware distillation
  // (lowbit distill, loss dad). Stage 1 alone, or distilled with plain KL, has no paper row.
  if (k.method == "dbllm") {
    const std::string ft = t.value("finetune", "");
    if (ft.empty()) k.method = "dbllmstage1";
    else if (ft != "distill-dad") k.method = "dbllm" + canonical_method(ft);
  }
  if (m["bits"]) k.w_bits = m["bits"].as<double>();
  if (m["group_size"]) k.group = m["group_size"].as<int64_t>();
  // The run's own forward spec as evaluation found it; older results: the config's a_bits.
  if (t.contains("activation_bits")) k.a_bits = t["activation_bits"].get<double>();
  else if (m["a_bits"]) k.a_bits = m["a_bits"].as<double>();
  return k;
}

std::string run_label(const json& r) {
  const json& t = r.at("target");
  return t.value("quantized", false) ? fs::path(t.value("path", "")).filename().string() : "FP " + t.value("model_name", "");
}

// lowbit's value of a paper metric column, or nothing.
std::optional<double> metric(const json& r, const std::string& column) {
  const json& t = r.at("tasks");
  auto acc = [&](const char* task) -> std::optional<double> {
    if (!t.contains(task)) return std::nullopt;
    return 100 * t[task]["acc"].get<double>();
  };
  if (column == "wikitext2" || column == "c4" || column == "ptb") {
    if (!t.contains(column)) return std::nullopt;
    return t[column]["perplexity"].get<double>();
  }
  static const std::map<std::string, std::string> tasks = {{"piqa", "piqa"},           {"arc_e", "arc_easy"},
                                                           {"arc_c", "arc_challenge"}, {"hellaswag", "hellaswag"},
                                                           {"winogrande", "winogrande"}};
  if (auto it = tasks.find(column); it != tasks.end()) return acc(it->second.c_str());
  if (column == "avg" || column == "csqa_avg") {
    double sum = 0;
    for (const auto& [c, task] : tasks) {
      const auto v = acc(task.c_str());
      if (!v) return std::nullopt;
      sum += *v;
    }
    return sum / 5;
  }
  // The visual benchmarks (LLaVA-NeXT), as the paper prints them: percentages, MME as its score sums.
  static const std::map<std::string, std::pair<std::string, std::string>> visual = {
      {"ai2d", {"ai2d", "exact_match"}},           {"chartqa", {"chartqa", "relaxed_overall"}},
      {"docvqa", {"docvqa", "anls"}},              {"mmbench", {"mmbench_en", "gpt_eval_score"}},
      {"mme_cognition", {"mme", "mme_cognition_score"}}, {"mme_perception", {"mme", "mme_perception_score"}}};
  if (auto it = visual.find(column); it != visual.end()) {
    const auto& [task, key] = it->second;
    if (!t.contains(task) || !t[task].contains(key)) return std::nullopt;
    const double v = t[task][key].get<double>();
    const bool fraction = key == "exact_match" || key == "relaxed_overall" || key == "anls";
    return fraction ? 100 * v : v;
  }
  if (column.rfind("mmlu_", 0) == 0) {
    if (!t.contains("mmlu")) return std::nullopt;
    const json& m = t["mmlu"];
    if (column == "mmlu_avg") return 100 * m["acc"].get<double>();
    static const std::map<std::string, std::string> cats = {
        {"mmlu_hums", "humanities"}, {"mmlu_stem", "STEM"}, {"mmlu_social", "social sciences"}, {"mmlu_other", "other"}};
    const auto it = cats.find(column);
    if (it == cats.end() || !m["categories"].contains(it->second)) return std::nullopt;
    return 100 * m["categories"][it->second]["acc"].get<double>();
  }
  return std::nullopt;
}

bool is_perplexity(const std::string& column) { return column == "wikitext2" || column == "c4" || column == "ptb"; }

std::string number(double v, bool perplexity) {
  if (!std::isfinite(v)) return "nan";
  if (perplexity && std::fabs(v) >= 1000) {
    std::string s = fmt::format("{:.1e}", v);  // 1.9e+03 -> 1.9e3, as the paper prints
    const std::size_t e = s.find('e');
    const int exp = std::stoi(s.substr(e + 1));
    return s.substr(0, e) + "e" + std::to_string(exp);
  }
  return perplexity && std::fabs(v) < 100 ? fmt::format("{:.2f}", v) : fmt::format("{:.1f}", v);
}

const char* title(const std::string& column) {
  static const std::map<std::string, const char*> t = {
      {"wikitext2", "WikiText2"}, {"c4", "C4"}, {"ptb", "PTB"}, {"piqa", "PIQA"}, {"arc_e", "ARC-e"},
      {"arc_c", "ARC-c"}, {"hellaswag", "HellaSwag"}, {"winogrande", "Wino"}, {"avg", "Avg"},
      {"mmlu_hums", "MMLU Hums"}, {"mmlu_stem", "MMLU STEM"}, {"mmlu_social", "MMLU Social"},
      {"mmlu_other", "MMLU Other"}, {"mmlu_avg", "MMLU Avg"}, {"csqa_avg", "CSQA Avg"}, {"ai2d", "AI2D"},
      {"chartqa", "ChartQA"}, {"docvqa", "DocVQA"}, {"mmbench", "MMBench"}, {"mme_cognition", "MME Cog"},
      {"mme_perception", "MME Per"}};
  auto it = t.find(column);
  return it == t.end() ? column.c_str() : it->second;
}

int column_of(const PaperTable& p, const std::string& name) {
  for (std::size_t i = 0; i < p.header.size(); ++i)
    if (p.header[i] == name) return static_cast<int>(i);
  return -1;
}

std::optional<double> parse_cell(const std::string& s) {
  if (s.empty() || s == "-") return std::nullopt;
  try {
    return std::stod(s);
  } catch (...) {
    return std::nullopt;
  }
}

bool matches(const PaperTable& p, const std::vector<std::string>& row, const RunKey& k) {
  if (canonical_method(row[column_of(p, "method")]) != k.method) return false;
  if (k.method == "fp") return true;
  const int wb = column_of(p, "w_bits"), ab = column_of(p, "a_bits"), g = column_of(p, "group");
  if (!parse_cell(row[wb]) || std::fabs(*parse_cell(row[wb]) - k.w_bits) > 1e-9) return false;
  if ((ab >= 0 ? parse_cell(row[ab]).value_or(16) : 16) != k.a_bits) return false;
  if (g >= 0) {
    const int64_t group = row[g] == "-" || row[g].empty() ? 0 : static_cast<int64_t>(parse_cell(row[g]).value_or(-1));
    if (group != k.group) return false;
  }
  return true;
}

}  // namespace

PaperTable load_paper_table(const std::string& which, const std::string& paper_dir) {
  PaperTable p;
  std::string file;
  if (which == "llama3-8b") file = "llama3_8b_ptq_v3.csv";
  else if (which == "llama3-70b") file = "llama3_70b_ptq_v3.csv";
  else if (which == "lora-ft") file = "lora_ft_v3.csv";
  else if (which == "llava-next-8b") file = "llava_next_8b_v3.csv";
  else LOWBIT_FAIL("--paper must be llama3-8b, llama3-70b, lora-ft or llava-next-8b, got '", which, "'");
  p.file = (fs::path(paper_dir) / file).string();
  const std::string text = read_file(p.file);
  std::stringstream ss(text);
  std::string line;
  int64_t n = 0;
  while (std::getline(ss, line)) {
    ++n;
    if (line.empty()) continue;
    std::vector<std::string> cells = split_csv_line(line);
    if (p.header.empty()) {
      p.header = cells;
      continue;
    }
    LOWBIT_CHECK(cells.size() == p.header.size(), p.file, ":", n, ": ", cells.size(), " cells, the header has ",
                 p.header.size());
    if (column_of(p, "model") >= 0 && cells[column_of(p, "model")] != "LLaMA3-8B") continue;  // lora-ft: 8B rows
    p.rows.push_back(cells);
  }
  for (const char* c : {"method", "w_bits"}) LOWBIT_CHECK(column_of(p, c) >= 0, p.file, ": no column '", c, "'");
  const std::vector<std::string> ptq = {"wikitext2", "c4", "ptb", "piqa", "arc_e", "arc_c", "hellaswag", "winogrande", "avg"};
  const std::vector<std::string> lora = {"mmlu_hums", "mmlu_stem", "mmlu_social", "mmlu_other", "mmlu_avg",
                                         "piqa", "arc_e", "arc_c", "hellaswag", "winogrande", "csqa_avg"};
  const std::vector<std::string> llava = {"wikitext2", "c4", "ptb", "ai2d", "chartqa", "docvqa", "mmbench",
                                          "mme_cognition", "mme_perception"};
  for (const std::string& c : which == "lora-ft" ? lora : which == "llava-next-8b" ? llava : ptq)
    if (column_of(p, c) >= 0) p.metrics.push_back(c);
  return p;
}

std::string report_table(const std::vector<json>& results, const PaperTable* paper, const std::string& format) {
  LOWBIT_CHECK(format == "md" || format == "csv" || format == "tex", "--format must be md, csv or tex, got '", format, "'");
  const std::vector<std::string> metrics =
      paper ? paper->metrics
            : std::vector<std::string>{"wikitext2", "c4", "ptb", "piqa", "arc_e", "arc_c", "hellaswag", "winogrande", "avg"};
  std::vector<std::string> head = {"Method", "#W", "#A", "G"};
  for (const std::string& m : metrics) {
    if (paper) {
      head.push_back(std::string(title(m)) + " paper");
      head.push_back(std::string(title(m)) + " lowbit");
      head.push_back("Δ");
    } else {
      head.push_back(title(m));
    }
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> used(results.size(), false);
  auto lowbit_cells = [&](std::vector<std::string>& row, const json* r, const std::vector<std::string>* prow) {
    for (const std::string& m : metrics) {
      // NaN stands for "not reported / not run".
      const double paper_v = prow ? parse_cell((*prow)[column_of(*paper, m)]).value_or(NAN) : NAN;
      const double ours = r ? metric(*r, m).value_or(NAN) : NAN;
      if (paper) row.push_back(prow && !(*prow)[column_of(*paper, m)].empty() ? (*prow)[column_of(*paper, m)] : "—");
      row.push_back(std::isfinite(ours) ? number(ours, is_perplexity(m)) : "—");
      if (paper) {
        const double d = ours - paper_v;
        row.push_back(std::isfinite(d) ? (d >= 0 ? "+" : "") + number(d, is_perplexity(m) && std::fabs(d) >= 1000) : "—");
      }
    }
  };
  if (paper) {
    for (const auto& prow : paper->rows) {
      const json* match = nullptr;
      for (std::size_t i = 0; i < results.size() && !match; ++i)
        if (!used[i] && matches(*paper, prow, key_of(results[i]))) {
          match = &results[i];
          used[i] = true;
        }
      const int ab = column_of(*paper, "a_bits"), g = column_of(*paper, "group");
      std::vector<std::string> row = {prow[column_of(*paper, "method")], prow[column_of(*paper, "w_bits")],
                                      ab >= 0 ? prow[ab] : "16", g >= 0 ? prow[g] : "-"};
      lowbit_cells(row, match, &prow);
      rows.push_back(row);
    }
  }
  for (std::size_t i = 0; i < results.size(); ++i) {  // runs the paper has no row for, FP first
    if (used[i]) continue;
    const RunKey k = key_of(results[i]);
    std::vector<std::string> row = {run_label(results[i]), k.method == "fp" ? "16" : fmt::format("{:g}", k.w_bits),
                                    fmt::format("{:g}", k.a_bits),
                                    k.method == "fp" ? "-" : (k.group ? std::to_string(k.group) : "-")};
    lowbit_cells(row, &results[i], nullptr);
    if (k.method == "fp")
      rows.insert(rows.begin() + (paper ? static_cast<long>(paper->rows.size()) : 0), row);
    else
      rows.push_back(row);
  }

  std::string out;
  if (format == "csv") {
    auto csv = [](const std::string& s) { return s.find(',') == std::string::npos ? s : "\"" + s + "\""; };
    for (const auto* r : {&head}) {
      for (std::size_t i = 0; i < r->size(); ++i) out += (i ? "," : "") + csv((*r)[i]);
      out += "\n";
    }
    for (const auto& r : rows) {
      for (std::size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + csv(r[i] == "—" ? "" : r[i]);
      out += "\n";
    }
  } else if (format == "md") {
    auto line = [&](const std::vector<std::string>& r) {
      out += "|";
      for (const std::string& c : r) out += " " + c + " |";
      out += "\n";
    };
    line(head);
    out += "|---|---:|---:|---:|";
    for (std::size_t i = 4; i < head.size(); ++i) out += "---:|";
    out += "\n";
    for (const auto& r : rows) line(r);
  } else {
    auto tex = [](std::string s) {
      std::string o;
      for (char c : s) o += (c == '_' || c == '%' || c == '&' || c == '#') ? std::string("\\") + c : std::string(1, c);
      return o == "—" ? "--" : (o == "Δ" ? "$\\Delta$" : o);
    };
    out += "\\begin{tabular}{lrrr" + std::string(head.size() - 4, 'r') + "}\n\\hline\n";
    for (std::size_t i = 0; i < head.size(); ++i) out += (i ? " & " : "") + tex(head[i]);
    out += " \\\\\n\\hline\n";
    for (const auto& r : rows) {
      for (std::size_t i = 0; i < r.size(); ++i) out += (i ? " & " : "") + tex(r[i]);
      out += " \\\\\n";
    }
    out += "\\hline\n\\end{tabular}\n";
  }
  return out;
}

void write_perplexity_plot(const std::vector<json>& results, const PaperTable* paper, const std::string& path,
                           int width, int height) {
  struct Point {
    double bits, ppl;
  };
  std::map<std::string, std::vector<Point>> ours, theirs;  // series "gptq g128"
  for (const json& r : results) {
    const RunKey k = key_of(r);
    const auto v = metric(r, "wikitext2");
    if (k.method == "fp" || !v) continue;
    const std::string series = k.method + (k.group ? " g" + std::to_string(k.group) : " per-channel");
    ours[series].push_back({k.w_bits, *v});
    if (paper)
      for (const auto& prow : paper->rows)
        if (matches(*paper, prow, k))
          if (auto pv = parse_cell(prow[column_of(*paper, "wikitext2")])) theirs[series].push_back({k.w_bits, *pv});
  }
  LOWBIT_CHECK(!ours.empty(), "the plot needs quantized runs with WikiText2 perplexity");
  double xmin = 1e9, xmax = -1e9, ymin = 1e300, ymax = 0;
  for (auto* m : {&ours, &theirs})
    for (auto& [s, pts] : *m) {
      std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.bits < b.bits; });
      for (const Point& p : pts) {
        xmin = std::min(xmin, p.bits), xmax = std::max(xmax, p.bits);
        ymin = std::min(ymin, p.ppl), ymax = std::max(ymax, p.ppl);
      }
    }
  if (xmax - xmin < 1) xmin -= 0.5, xmax += 0.5;
  const double ly0 = std::floor(std::log10(ymin)), ly1 = std::max(ly0 + 1, std::ceil(std::log10(ymax)));
  const double L = 70, R = width - 170, T = 40, B = height - 50;
  auto X = [&](double b) { return L + (b - xmin) / (xmax - xmin) * (R - L); };
  auto Y = [&](double p) { return B - (std::log10(p) - ly0) / (ly1 - ly0) * (B - T); };
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"15\">WikiText2 perplexity vs weight bits (solid: lowbit, "
      "dashed: paper)</text>\n",
      width, height, width, height, L);
  svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", L, B, R, B);
  svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", L, T, L, B);
  for (double e = ly0; e <= ly1; e += 1)
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">1e{}</text><line x1=\"{}\" y1=\"{}\" x2=\"{}\" "
                       "y2=\"{}\" stroke=\"#ddd\"/>\n",
                       L - 6, Y(std::pow(10, e)) + 4, static_cast<int>(e), L, Y(std::pow(10, e)), R, Y(std::pow(10, e)));
  for (double b = std::ceil(xmin); b <= xmax; b += 1)
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:g}</text>\n", X(b), B + 18, b);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">weight bits</text>\n", (L + R) / 2, B + 38);
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  int i = 0;
  for (const auto& [series, pts] : ours) {
    const char* c = colors[i % 8];
    auto poly = [&](const std::vector<Point>& p, bool dashed) {
      std::string s = fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{} points=\"", c,
                                  dashed ? " stroke-dasharray=\"6 4\"" : "");
      for (const Point& q : p) s += fmt::format("{:.1f},{:.1f} ", X(q.bits), Y(q.ppl));
      s += "\"/>\n";
      for (const Point& q : p)
        s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", X(q.bits), Y(q.ppl), c);
      return s;
    };
    svg += poly(pts, false);
    if (theirs.count(series)) svg += poly(theirs[series], true);
    svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"/><text x=\"{}\" "
                       "y=\"{}\">{}</text>\n",
                       R + 15, T + 10 + 18 * i, R + 40, T + 10 + 18 * i, c, R + 46, T + 14 + 18 * i, series);
    ++i;
  }
  svg += "</svg>\n";
  write_file_atomic(path, svg);
}

}  // namespace lowbit
