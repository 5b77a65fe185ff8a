// `lowbit report RUN_DIR... [--paper llama3-8b|llama3-70b|lora-ft|llava-next-8b] [--format md|csv|tex] [--plot F.svg]`:
// lowbit's results beside the paper's table, and a perplexity-vs-bits plot.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "evaluation/report.h"
#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/core/files.h"

namespace lowbit::cli {

namespace fs = std::filesystem;

void add_report(CLI::App& app) {
  struct Args {
    std::vector<std::string> dirs;
    std::string paper, format = "md", plot, out, paper_dir = "configs/paper";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("report", "Tabulate results beside the paper's numbers; plot perplexity vs bits");
  cmd->add_option("RUN_DIR", a->dirs,
                  "Run directories with results.json, or directories holding them (a sweep's runs_dir)")
      ->required();
  cmd->add_option("--paper", a->paper, "The paper table to compare with: llama3-8b, llama3-70b, lora-ft or llava-next-8b");
  cmd->add_option("--format", a->format, "md, csv or tex")->capture_default_str();
  cmd->add_option("--plot", a->plot, "Also write WikiText2 perplexity vs weight bits to this SVG file");
  cmd->add_option("--out", a->out, "Write the table to this file instead of stdout");
  cmd->add_option("--paper-dir", a->paper_dir, "Where the paper CSVs are")->capture_default_str();
  cmd->callback([a] {
    std::vector<nlohmann::json> results;
    auto add = [&](const fs::path& f) { results.push_back(parse_json_object(read_file(f.string()), f.string())); };
    for (const std::string& d : a->dirs) {
      LOWBIT_CHECK(fs::is_directory(d), d, ": not a directory");
      if (fs::exists(fs::path(d) / "results.json")) {
        add(fs::path(d) / "results.json");
        continue;
      }
      std::vector<fs::path> found;  // a sweep's runs_dir: its runs, FP first, then by name
      for (const auto& e : fs::directory_iterator(d))
        if (fs::exists(e.path() / "results.json")) found.push_back(e.path() / "results.json");
      std::sort(found.begin(), found.end(), [](const fs::path& x, const fs::path& y) {
        const bool fx = x.parent_path().filename() == "fp", fy = y.parent_path().filename() == "fp";
        return fx != fy ? fx : x < y;
      });
      LOWBIT_CHECK(!found.empty(), d, ": no results.json in it or in its subdirectories (run lowbit eval first)");
      for (const fs::path& f : found) add(f);
    }
    PaperTable paper;
    if (!a->paper.empty()) paper = load_paper_table(a->paper, a->paper_dir);
    const std::string table = report_table(results, a->paper.empty() ? nullptr : &paper, a->format);
    if (a->out.empty()) {
      std::fputs(table.c_str(), stdout);
    } else {
      write_file_atomic(a->out, table);
      std::printf("table: %s\n", a->out.c_str());
    }
    if (!a->plot.empty()) {
      write_perplexity_plot(results, a->paper.empty() ? nullptr : &paper, a->plot);
      std::printf("plot: %s\n", a->plot.c_str());
    }
  });
}

}  // namespace lowbit::cli
