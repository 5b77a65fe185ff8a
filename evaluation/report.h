// `lowbit report`: lowbit's results beside the study's published numbers, in the paper's table
// layout (rows in the paper's order, per metric: paper, lowbit, difference), as Markdown, CSV or
// LaTeX; and a plot of WikiText2 perplexity against weight bits per method (SVG).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace lowbit {

struct PaperTable {
  std::string file;
  std::vector<std::string> header;             // the CSV's columns
  std::vector<std::vector<std::string>> rows;  // cells as printed in the paper
  std::vector<std::string> metrics;            // the metric columns shown in the report, in order
};

// `which`: llama3-8b, llama3-70b, lora-ft or llava-next-8b (configs/paper/*_v3.csv under `paper_dir`).
PaperTable load_paper_table(const std::string& which, const std::string& paper_dir);

// The table; `paper` may be null (lowbit's numbers only). `format`: md, csv or tex.
std::string report_table(const std::vector<nlohmann::json>& results, const PaperTable* paper,
                         const std::string& format);

// WikiText2 perplexity (log scale) against weight bits, one line per (method, group) of the runs,
// the paper's numbers for the same rows dashed. Width x height pixels, SVG.
void write_perplexity_plot(const std::vector<nlohmann::json>& results, const PaperTable* paper,
                           const std::string& path, int width = 800, int height = 500);

}  // namespace lowbit
