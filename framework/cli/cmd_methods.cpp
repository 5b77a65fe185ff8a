// `lowbit methods`: the quantization methods this build has, with their parameters and defaults.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>

#include "framework/cli/commands.h"
#include "methods/method.h"

namespace lowbit::cli {

void add_methods(CLI::App& app) {
  auto* cmd = app.add_subcommand("methods", "List the quantization methods and their parameters");
  cmd->callback([] {
    const MethodRegistry& r = MethodRegistry::builtin();
    std::size_t width = 0;
    for (const std::string& name : r.names()) width = std::max(width, name.size());
    for (const std::string& name : r.names()) {
      const MethodInfo& m = r.get(name);
      fmt::print("{:<{}} {}\n{:<{}} parameters: {}\n", name, width, m.summary, "", width, m.parameters);
    }
  });
}

}  // namespace lowbit::cli
