// Experiment configs: a complete file reads into the typed config; key=value overrides apply
// before validation; typos, wrong types, bad values and bad overrides are refused with file:line.
#include <gtest/gtest.h>

#include "framework/config/experiment_config.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

std::string write_experiment(const test::TempDir& dir, const std::string& extra_method = "",
                             const std::string& distributed = "  propagation: quantized\n") {
  const std::string yaml = "model: " + test::tiny_model_dir() +
                           "\nmethod:\n  name: gptq\n  bits: 4\n  group_size: 128\n" + extra_method +
                           "calibration:\n  source: train.txt\n  nsamples: 16\n  seq_len: 128\n"
                           "distributed:\n" + distributed +
                           "output:\n  run_dir: " + dir.file("run") + "\n";
  test::write_file(dir.file("exp.yaml"), yaml);
  return dir.file("exp.yaml");
}

TEST(ExperimentConfig, CompleteFileReadsIntoTypedConfig) {
  test::TempDir dir;
  const ExperimentConfig c = ExperimentConfig::from_yaml(write_experiment(dir));
  EXPECT_EQ(c.method, "gptq");
  EXPECT_EQ(c.model.config.hidden_size, 256);
  EXPECT_TRUE(c.model.has_weights);
  EXPECT_EQ(c.calibration.nsamples, 16);
  EXPECT_EQ(c.calibration.style, "stream");
  EXPECT_EQ(c.distributed.propagation, "quantized");
  EXPECT_NE(c.method_config.find("bits: 4"), std::string::npos);
}

TEST(ExperimentConfig, OverridesApplyBeforeValidation) {
  test::TempDir dir;
  const ExperimentConfig c = ExperimentConfig::from_yaml(
      write_experiment(dir), {"method.bits=3", "method.act_order=true", "calibration.seed=7",
                              "distributed.propagation=full_precision"});
  EXPECT_NE(c.method_config.find("bits: 3"), std::string::npos);
  EXPECT_NE(c.method_config.find("act_order: true"), std::string::npos);
  EXPECT_EQ(c.calibration.seed, 7u);
  EXPECT_EQ(c.distributed.propagation, "full_precision");
}

TEST(ExperimentConfig, TypoInAMethodParameterIsRefusedWithFileAndLine) {
  test::TempDir dir;
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "  groupsize: 64\n")),
                      {"exp.yaml:6", "unknown key 'method.groupsize'"});
}

TEST(ExperimentConfig, BadPropagationValueIsRefused) {
  test::TempDir dir;
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "", "  propagation: fp16\n")),
                      {"exp.yaml", "'distributed.propagation'", "fp16"});
}

TEST(ExperimentConfig, OverrideOfAMissingSectionIsRefused) {
  test::TempDir dir;
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir), {"methd.bits=3"}),
                      {"override 'methd.bits=3'", "no section 'methd'"});
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir), {"method.bits"}), {"expected key=value"});
}

TEST(ExperimentConfig, UnknownMethodIsRefusedListingTheAvailableOnes) {
  test::TempDir dir;
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir), {"method.name=no-such-method"}),
                      {"method 'no-such-method' is not available", "awq", "gptq", "rtn", "smoothquant"});
}

TEST(ExperimentConfig, DuplicatedKeyIsRefusedNamingBothLines) {
  test::TempDir dir;
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "  bits: 2\n")),
                      {"exp.yaml:6", "key 'method.bits' appears twice", "first at line 4"});
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir), {"method={name: rtn, bits: 3, bits: 2}"}),
                      {"override 'method={name: rtn, bits: 3, bits: 2}'", "'method.bits' appears twice"});
}

TEST(ExperimentConfig, ErrorInAnOverriddenValueNamesTheOverride) {
  test::TempDir dir;
  const std::string path = write_experiment(dir);
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(path, {"method.bits=abc"}),
                      {"override 'method.bits=abc'", "key 'method.bits' must be an integer"});
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(path, {"distributed.micro_batch=[1]"}),
                      {"override 'distributed.micro_batch=[1]'", "must be an integer"});
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(path, {"method.bitz=3"}),
                      {"override 'method.bitz=3'", "unknown key 'method.bitz'"});
  // A value of the file keeps its line.
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "  damp: x\n")),
                      {"exp.yaml:6", "key 'method.damp' must be a number"});
}

TEST(ExperimentConfig, SettingsTheModelCannotTakeAreRefusedByKey) {
  test::TempDir dir;
  const std::string path = write_experiment(dir);
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(path, {"method.group_size=100"}),
                      {path, "key 'method.group_size'", "100 does not divide", "256 inputs"});
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(path, {"calibration.seq_len=100000"}),
                      {path, "key 'calibration.seq_len' is 100000", "max_position_embeddings"});
}

// Found by the yaml_config fuzz target: a key that is not a plain name escaped as a yaml-cpp exception.
TEST(ExperimentConfig, KeyThatIsNotAPlainNameIsRefused) {
  test::TempDir dir;
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "  [1, 2]: 3\n")),
                      {"exp.yaml:6", "a key of 'method' is [1, 2]", "plain names"});
}

}  // namespace
}  // namespace lowbit
