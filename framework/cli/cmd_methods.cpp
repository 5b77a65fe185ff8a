// `lowbit methods`: the quantization methods this build has, with their parameters and defaults.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "framework/cli/commands.h"
#include "methods/method.h"

namespace lowbit::cli {

void add_methods(CLI::App& app) {
  auto* cmd = app.add_subcommand("methods", "List the quantization methods and their parameters");
  cmd->callback([] {
    const MethodRegistry& r = MethodRegistry::builtin();
    for (const std::string& name : r.names()) {
      const MethodInfo& m = r.get(name);
      fmt::print("{:<8} {}\n{:<8} parameters: {}\n", name, m.summary, "", m.parameters);
    }
  });
}

}  // namespace lowbit::cli
