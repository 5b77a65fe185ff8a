// The trainer: loss goes down on a tiny run; a run stopped and resumed ends bit-identical to an
// uninterrupted one; a damaged or foreign checkpoint is refused naming the file and the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/model/safetensors_writer.h"
#include "framework/train/adamw.h"
#include "framework/train/pretrain.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

// A small corpus with learnable structure: sentences built from a few templates.
std::string synthetic_text(int sentences, int seed) {
  const char* subjects[] = {"The cat", "A dog", "My neighbour", "The old sailor", "Every student"};
  const char* verbs[] = {"reads", "likes", "carries", "paints", "forgets"};
  const char* objects[] = {"the red book.", "a small boat.", "the morning news.", "an apple.", "the long letter."};
  std::string s;
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (int i = 0; i < sentences; ++i) {
    x = x * 1664525u + 1013904223u;
    s += std::string(subjects[(x >> 8) % 5]) + " " + verbs[(x >> 16) % 5] + " " + objects[(x >> 24) % 5] +
         ((i % 7 == 6) ? "\n\n" : " ");
  }
  return s;
}

// Writes corpus files and a training YAML into `dir`; returns the YAML path.
std::string write_config(const test::TempDir& dir, const std::string& out, int steps, double lr = 1e-2,
                         int save_every = 2) {
  test::write_file(dir.file("train.txt"), synthetic_text(3000, 1));
  test::write_file(dir.file("valid.txt"), synthetic_text(300, 2));
  const std::string yaml = "model:\n  hidden_size: 64\n  intermediate_size: 128\n  num_hidden_layers: 2\n"
                           "  num_attention_heads: 4\n  num_key_value_heads: 2\n  max_position_embeddings: 64\n"
                           "tokenizer: " + test::tiny_model_dir() + "/tokenizer.json\n"
                           "data:\n  train: " + dir.file("train.txt") + "\n  validation: " + dir.file("valid.txt") +
                           "\n  seq_len: 32\n"
                           "training:\n  seed: 3\n  threads: 1\n  steps: " + std::to_string(steps) +
                           "\n  micro_batch: 4\n  grad_accum: 2\n  lr: " + std::to_string(lr) +
                           "\n  warmup_steps: 2\n"
                           "eval:\n  every: 1000\n  windows: 8\n"
                           "output:\n  dir: " + dir.file(out) + "\n  save_every: " + std::to_string(save_every) +
                           "\n  log_every: 1000\n";
  const std::string path = dir.file(out + ".yaml");
  test::write_file(path, yaml);
  return path;
}

TEST(Trainer, HeldOutLossFallsOnATinyRun) {
  test::TempDir dir;
  const TrainConfig cfg = TrainConfig::from_yaml(write_config(dir, "run", 40));
  const double initial = pretrain(cfg, /*stop_after_steps=*/1).heldout_loss;
  const PretrainResult trained = pretrain(cfg);
  EXPECT_TRUE(trained.complete);
  EXPECT_LT(trained.heldout_loss, initial - 2.0) << "after 1 step " << initial << ", after 40 steps " << trained.heldout_loss;
  EXPECT_TRUE(fs::exists(dir.file("run/model/model.safetensors")));
  EXPECT_TRUE(fs::exists(dir.file("run/model/tokenizer.json")));
}

TEST(Trainer, ResumedRunEndsBitIdenticalToAnUninterruptedOne) {
  test::TempDir dir;
  const TrainConfig straight = TrainConfig::from_yaml(write_config(dir, "straight", 8));
  const TrainConfig split = TrainConfig::from_yaml(write_config(dir, "split", 8));
  ASSERT_TRUE(pretrain(straight).complete);
  const PretrainResult first = pretrain(split, /*stop_after_steps=*/3);
  EXPECT_FALSE(first.complete);
  EXPECT_EQ(first.steps_done, 3);
  const PretrainResult second = pretrain(split);
  EXPECT_TRUE(second.complete);
  const std::string a = test::read_file(dir.file("straight/model/model.safetensors"));
  const std::string b = test::read_file(dir.file("split/model/model.safetensors"));
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "resumed weights differ from the uninterrupted run's";
  EXPECT_TRUE(test::read_file(dir.file("straight/checkpoint/optimizer.safetensors")) ==
              test::read_file(dir.file("split/checkpoint/optimizer.safetensors")));
}

class DamagedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    config_path = write_config(dir, "run", 6);
    pretrain(TrainConfig::from_yaml(config_path), 2);
  }
  test::TempDir dir;
  std::string config_path;
};

TEST_F(DamagedCheckpoint, TruncatedWeightsAreRefused) {
  fs::resize_file(dir.file("run/checkpoint/model.safetensors"), 64);
  EXPECT_LOWBIT_ERROR(pretrain(TrainConfig::from_yaml(config_path)), {"checkpoint/model.safetensors"});
}

TEST_F(DamagedCheckpoint, BadStepFieldIsRefused) {
  nlohmann::json state = nlohmann::json::parse(test::read_file(dir.file("run/checkpoint/trainer_state.json")));
  ASSERT_EQ(state["step"], 2);
  state["step"] = "two";
  test::write_file(dir.file("run/checkpoint/trainer_state.json"), state.dump());
  EXPECT_LOWBIT_ERROR(pretrain(TrainConfig::from_yaml(config_path)), {"trainer_state.json", "'step'"});
}

TEST_F(DamagedCheckpoint, MalformedHistoryIsRefused) {
  nlohmann::json state = nlohmann::json::parse(test::read_file(dir.file("run/checkpoint/trainer_state.json")));
  state["history"][0]["train_loss"] = "low";
  test::write_file(dir.file("run/checkpoint/trainer_state.json"), state.dump());
  EXPECT_LOWBIT_ERROR(pretrain(TrainConfig::from_yaml(config_path)), {"trainer_state.json", "'history'"});
}

TEST_F(DamagedCheckpoint, MissingOptimizerMomentIsRefused) {
  const float x = 0;
  write_safetensors(dir.file("run/checkpoint/optimizer.safetensors"), {{"unrelated", DType::F32, {1}, &x}});
  EXPECT_LOWBIT_ERROR(pretrain(TrainConfig::from_yaml(config_path)),
                      {"optimizer.safetensors", "missing tensor 'exp_avg.model.embed_tokens.weight'"});
}

TEST_F(DamagedCheckpoint, CheckpointOfOtherSettingsIsRefused) {
  std::string yaml = test::read_file(config_path);
  const std::string from = "lr: 0.010000";
  ASSERT_NE(yaml.find(from), std::string::npos);
  yaml.replace(yaml.find(from), from.size(), "lr: 0.02");
  test::write_file(config_path, yaml);
  EXPECT_LOWBIT_ERROR(pretrain(TrainConfig::from_yaml(config_path)), {"trainer_state.json", "'fingerprint'"});
}

TEST(TrainConfig, UnknownKeyIsRefusedWithFileAndLine) {
  test::TempDir dir;
  std::string yaml = test::read_file(write_config(dir, "run", 4));
  yaml.replace(yaml.find("  warmup_steps"), 0, "  learning_rate: 0.1\n");
  test::write_file(dir.file("bad.yaml"), yaml);
  EXPECT_LOWBIT_ERROR(TrainConfig::from_yaml(dir.file("bad.yaml")), {"bad.yaml:", "unknown key 'training.learning_rate'"});
}

TEST(TrainConfig, WrongTypeIsRefusedWithFileAndLine) {
  test::TempDir dir;
  std::string yaml = test::read_file(write_config(dir, "run", 4));
  yaml.replace(yaml.find("micro_batch: 4"), 14, "micro_batch: four");
  test::write_file(dir.file("bad.yaml"), yaml);
  EXPECT_LOWBIT_ERROR(TrainConfig::from_yaml(dir.file("bad.yaml")), {"bad.yaml:", "'training.micro_batch'", "integer"});
}

TEST(LearningRate, WarmupThenCosineToTheFloor) {
  OptimConfig c;
  c.lr = 1.0;
  c.steps = 10;
  c.warmup_steps = 2;
  c.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(c, 0), 0.5);   // warming up
  EXPECT_DOUBLE_EQ(learning_rate(c, 1), 1.0);   // end of warmup
  EXPECT_DOUBLE_EQ(learning_rate(c, 2), 1.0);   // the cosine starts at the peak
  EXPECT_DOUBLE_EQ(learning_rate(c, 9), 0.1);   // last step at the floor
  c.warmup_steps = 1;
  EXPECT_NEAR(learning_rate(c, 5), 0.55, 1e-12);  // halfway down the cosine (steps 1..9)
}

}  // namespace
}  // namespace lowbit
