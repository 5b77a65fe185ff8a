// `lowbit`: one executable, one subcommand per job. Errors from any layer arrive here as
// lowbit::Error and are printed once; the exit code is non-zero.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "framework/cli/commands.h"
#include "framework/core/error.h"
#include "framework/dist/communicator.h"

int main(int argc, char** argv) {
  CLI::App app{"lowbit: low-bit quantization and evaluation of LLaMA-family models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", LOWBIT_VERSION);
  lowbit::cli::add_info(app);
  lowbit::cli::add_tokenize(app);
  lowbit::cli::add_logits(app);
  lowbit::cli::add_train(app);
  lowbit::cli::add_finetune(app);
  lowbit::cli::add_distill(app);
  lowbit::cli::add_make_model(app);
  lowbit::cli::add_methods(app);
  lowbit::cli::add_plan(app);
  lowbit::cli::add_inspect(app);
  lowbit::cli::add_quantize(app);
  lowbit::cli::add_eval(app);
  lowbit::cli::add_sweep(app);
  lowbit::cli::add_report(app);
  lowbit::cli::add_export(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lowbit::CollectiveError& e) {
    // Every rank knows; rank 0 says it once and all end normally (no rank is blocked).
    if (lowbit::world().rank() == 0) std::fprintf(stderr, "lowbit: error: %s\n", e.what());
    return 1;
  } catch (const lowbit::Error& e) {
    lowbit::abort_world(e.what());  // one message, every rank ends
  } catch (const std::exception& e) {
    lowbit::abort_world(std::string("unexpected error: ") + e.what());
  }
  return 0;
}
