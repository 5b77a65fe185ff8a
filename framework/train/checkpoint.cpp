#include "framework/train/checkpoint.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/core/files.h"
#include "framework/model/safetensors.h"
#include "framework/model/safetensors_writer.h"

namespace lowbit {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr const char* kFormat = "lowbit-train-checkpoint";
constexpr int kVersion = 1;
}  // namespace

void save_training_checkpoint(const std::string& dir, const std::function<void(const std::string& tmp_dir)>& write_model,
                              const AdamW& optimizer, const TrainProgress& progress, const std::string& fingerprint) {
  const fs::path final_dir(dir), tmp(dir + ".tmp"), old(dir + ".old");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_model(tmp.string());

  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> moments;
  auto& opt = const_cast<AdamW&>(optimizer);
  for (std::size_t i = 0; i < opt.params().size(); ++i) {
    for (const auto& [prefix, t] : {std::pair{"exp_avg.", opt.exp_avg()[i]}, std::pair{"exp_avg_sq.", opt.exp_avg_sq()[i]}}) {
      keep.push_back(t.to(at::kCPU).contiguous());
      moments.push_back({prefix + opt.params()[i].name, DType::F32, keep.back().sizes().vec(), keep.back().data_ptr()});
    }
  }
  write_safetensors((tmp / "optimizer.safetensors").string(), moments);

  json history = json::array();
  for (const TrainRecord& r : progress.history)
    history.push_back({{"step", r.step}, {"train_loss", r.train_loss},
                       {"heldout_loss", r.heldout_loss >= 0 ? json(r.heldout_loss) : json(nullptr)}});
  const json state = {{"format", kFormat}, {"version", kVersion}, {"step", progress.step},
                      {"tokens", progress.tokens}, {"adam_steps", optimizer.steps_taken()},
                      {"fingerprint", fingerprint}, {"history", history}};
  write_file_atomic((tmp / "trainer_state.json").string(), state.dump(2) + "\n");

  fs::remove_all(old);
  if (fs::exists(final_dir)) fs::rename(final_dir, old);
  fs::rename(tmp, final_dir);
  fs::remove_all(old);
}

void save_checkpoint(const std::string& dir, LlamaWeights& w, const AdamW& optimizer, const TrainProgress& progress,
                     const std::string& fingerprint, const std::string& tokenizer_path) {
  save_training_checkpoint(
      dir,
      [&](const std::string& tmp) {
        save_llama(w, tmp, at::kFloat);
        fs::copy_file(tokenizer_path, fs::path(tmp) / "tokenizer.json");
      },
      optimizer, progress, fingerprint);
}

std::string find_checkpoint(const std::string& dir) {
  if (fs::exists(fs::path(dir) / "trainer_state.json")) return dir;
  if (fs::exists(fs::path(dir + ".old") / "trainer_state.json")) return dir + ".old";
  return "";
}

void load_trainer_state(const std::string& dir, const std::string& fingerprint, TrainProgress& progress) {
  const std::string state_path = (fs::path(dir) / "trainer_state.json").string();
  const json state = parse_json_object(read_file(state_path), state_path);
  LOWBIT_CHECK(state.value("format", "") == kFormat && state.value("version", 0) == kVersion, state_path,
               ": not a ", kFormat, " v", kVersion, " file (field 'format'/'version')");
  for (const char* key : {"step", "tokens", "adam_steps"})
    LOWBIT_CHECK(state.contains(key) && state[key].is_number_integer() && state[key].get<int64_t>() >= 0, state_path,
                 ": field '", key, "' must be a non-negative integer");
  LOWBIT_CHECK(state.value("fingerprint", "") == fingerprint, state_path,
               ": field 'fingerprint': this checkpoint was made with different training settings; "
               "use another output.dir (or delete the old checkpoint) to start over");
  progress.step = state["step"].get<int64_t>();
  progress.tokens = state["tokens"].get<int64_t>();
  progress.history.clear();
  try {
    for (const json& r : state.at("history"))
      progress.history.push_back({r.at("step").get<int64_t>(), r.at("train_loss").get<double>(),
                                  r.at("heldout_loss").is_null() ? -1.0 : r.at("heldout_loss").get<double>()});
  } catch (const json::exception& e) {
    LOWBIT_FAIL(state_path, ": field 'history' is malformed: ", e.what());
  }
}

LlamaWeights load_checkpoint_model(const std::string& dir, const LlamaConfig& expected, const std::string& fingerprint,
                                   TrainProgress& progress) {
  load_trainer_state(dir, fingerprint, progress);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  const LlamaConfig saved = LlamaConfig::from_file(config_path);
  LlamaConfig want = expected;
  want.torch_dtype = saved.torch_dtype;
  LOWBIT_CHECK(saved.to_json_text() == want.to_json_text(), config_path,
               ": the checkpoint's architecture differs from the training config's");
  return load_llama(dir);
}

void load_checkpoint_optimizer(const std::string& dir, AdamW& optimizer, const TrainProgress& progress) {
  const std::string path = (fs::path(dir) / "optimizer.safetensors").string();
  SafetensorsFile f(path);
  for (std::size_t i = 0; i < optimizer.params().size(); ++i) {
    const Parameter& p = optimizer.params()[i];
    for (auto [prefix, target] : {std::pair{"exp_avg.", &optimizer.exp_avg()[i]}, std::pair{"exp_avg_sq.", &optimizer.exp_avg_sq()[i]}}) {
      const std::string name = prefix + p.name;
      LOWBIT_CHECK(f.contains(name), path, ": missing tensor '", name, "'");
      const TensorView v = f.view(name);
      LOWBIT_CHECK(v.info->dtype == DType::F32 && v.info->shape == p.value.sizes().vec(), path, ": tensor '", name,
                   "' must be F32 of the parameter's shape");
      target->copy_(at::from_blob(const_cast<std::byte*>(v.data), v.info->shape, at::kFloat).to(target->device()));
    }
  }
  const std::string state_path = (fs::path(dir) / "trainer_state.json").string();
  optimizer.set_steps_taken(parse_json_object(read_file(state_path), state_path)["adam_steps"].get<int64_t>());
  LOWBIT_CHECK(optimizer.steps_taken() == progress.step, state_path, ": field 'adam_steps' (", optimizer.steps_taken(),
               ") disagrees with field 'step' (", progress.step, ")");
}

}  // namespace lowbit
