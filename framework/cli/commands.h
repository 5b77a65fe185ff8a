// Each `lowbit` subcommand registers itself on the app and runs from its callback.
#pragma once

namespace CLI {
class App;
}

namespace lowbit::cli {

void add_info(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_logits(CLI::App& app);
void add_train(CLI::App& app);
void add_finetune(CLI::App& app);
void add_distill(CLI::App& app);
void add_export(CLI::App& app);
void add_make_model(CLI::App& app);
void add_methods(CLI::App& app);
void add_plan(CLI::App& app);
void add_inspect(CLI::App& app);
void add_quantize(CLI::App& app);
void add_eval(CLI::App& app);
void add_sweep(CLI::App& app);
void add_report(CLI::App& app);

}  // namespace lowbit::cli
