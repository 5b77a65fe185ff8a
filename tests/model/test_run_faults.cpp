// The fault matrix (issue 13): a finished run of lowbit-tiny-llama3 is damaged in one way per test
// (a shard from another run, a changed calibration fingerprint, codes beyond the bit width, a
// flipped byte, manifests with overlapping or missing blocks, an uncommitted block) and both
// evaluation and `lowbit inspect`'s verification must refuse it with the exact reason, leaving
// every file of the run as it was. A base model whose weights changed (one tensor rewritten) is
// refused for evaluation and for resuming, naming the tensor.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sys/stat.h>

#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "evaluation/eval_model.h"
#include "framework/calibrate/quantize_run.h"
#include "framework/core/file_lock.h"
#include "framework/model/fingerprint.h"
#include "framework/model/safetensors.h"
#include "framework/model/safetensors_writer.h"
#include "framework/store/hdf5_file.h"
#include "framework/store/run_manifest.h"
#include "framework/store/shard.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"
#include "tests/support/tiny_model_blocks.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

// Two finished RTN runs (3 and 4 bits, group 128). ctest runs each test in its own process, so
// they are made once per build of this executable, in the build tree, under a lock (the other
// test processes wait for them), and only copies are damaged.
class RunFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    struct stat exe {};
    ::stat("/proc/self/exe", &exe);
    const fs::path base = fs::path(test::reference_dir()).parent_path() / "test-work" /
                          ("run-faults-" + std::to_string(exe.st_mtime));
    fs::create_directories(base);
    std::error_code ec;  // earlier builds' runs are of no use any more
    for (const auto& e : fs::directory_iterator(base.parent_path(), ec))
      if (e.path() != base && e.path().filename().string().rfind("run-faults-", 0) == 0) fs::remove_all(e.path(), ec);
    runs_ = new std::string(base.string());
    const FileLock lock((base / "make.lock").string(), "RunFaults set-up", /*wait_seconds=*/600);
    for (int bits : {3, 4}) {
      const std::string name = "w" + std::to_string(bits);
      if (fs::exists(base / name / "manifest.json")) continue;
      const std::string yaml = "model: " + test::tiny_model_dir() + "\nmethod:\n  name: rtn\n  bits: " +
                               std::to_string(bits) + "\n  group_size: 128\ncalibration:\n  source: " +
                               test::tiny_corpus_dir() + "/train.txt\n  nsamples: 4\n  seq_len: 64\n" +
                               "output:\n  run_dir: " + (base / name).string() + "\n";
      test::write_file((base / (name + ".yaml")).string(), yaml);
      quantize_run(ExperimentConfig::from_yaml((base / (name + ".yaml")).string()));
    }
  }
  static void TearDownTestSuite() { delete runs_; }
  static std::string run_of(const std::string& name) { return *runs_ + "/" + name; }

  // A copy of the 3-bit run to damage.
  void SetUp() override {
    fs::copy(run_of("w3"), work_.file("run"), fs::copy_options::recursive);
    run_ = work_.file("run");
  }
  std::string shard() const { return run_ + "/shards/" + shard_file_name(0, 1); }

  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(run_))
      if (e.is_regular_file()) {
        Fnv1a f;
        f.add(test::read_file(e.path().string()));
        out[e.path().string()] = f.hex();
      }
    return out;
  }

  // Evaluation's loading and inspect's verification both refuse the run with `fragments`, and no
  // file of the run changed.
  void expect_refused(const std::vector<std::string>& fragments) {
    const auto before = snapshot();
    RankPlan plan;
    plan.end_block = test::tiny_model_blocks();
    std::string eval_msg, verify_msg;
    try {
      load_eval_part(resolve_eval_target(run_), plan);
      ADD_FAILURE() << "evaluation accepted the damaged run";
    } catch (const Error& e) {
      eval_msg = e.what();
    }
    try {
      verify_run_contents(read_run_manifest(run_));
      ADD_FAILURE() << "verification accepted the damaged run";
    } catch (const Error& e) {
      verify_msg = e.what();
    }
    for (const std::string& f : fragments) {
      EXPECT_NE(eval_msg.find(f), std::string::npos) << "evaluation's message lacks '" << f << "': " << eval_msg;
      EXPECT_NE(verify_msg.find(f), std::string::npos) << "verification's message lacks '" << f << "': " << verify_msg;
    }
    EXPECT_EQ(before, snapshot()) << "a file of the run changed";
  }

  void edit_manifest(const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json m = nlohmann::json::parse(test::read_file(run_ + "/manifest.json"));
    edit(m);
    test::write_file(run_ + "/manifest.json", m.dump(2));
  }

  static std::string* runs_;
  test::TempDir work_;
  std::string run_;
};
std::string* RunFaults::runs_ = nullptr;

TEST_F(RunFaults, IntactRunIsAcceptedAndVerified) {
  EXPECT_EQ(verify_run_contents(read_run_manifest(run_)), test::tiny_model_blocks());
  RankPlan plan;
  plan.end_block = test::tiny_model_blocks();
  const LlamaWeights w = load_eval_part(resolve_eval_target(run_), plan);
  EXPECT_EQ(static_cast<int64_t>(w.blocks.size()), test::tiny_model_blocks());
}

TEST_F(RunFaults, ShardOfAnotherRunIsRefused) {
  fs::copy_file(run_of("w4") + "/shards/" + shard_file_name(0, 1), shard(), fs::copy_options::overwrite_existing);
  expect_refused({shard_file_name(0, 1), "attribute 'method_config'", "bits: 4", "another run"});
}

TEST_F(RunFaults, CalibrationFingerprintDifferingFromTheManifestIsRefused) {
  h5::File(h5::File::open(shard(), true)).set_attr("/", "calibration_fingerprint", std::string("0123456789abcdef"));
  expect_refused({"attribute 'calibration_fingerprint'", "0123456789abcdef", "calibration.fingerprint"});
}

TEST_F(RunFaults, CodesBeyondTheBitWidthAreRefused) {
  {  // 0xFF written as a valid dataset (its checksum matches): only the range check can see it
    h5::File f = h5::File::open(shard(), true);
    const std::string ds = "/blocks/1/mlp.up_proj/codes";
    at::Tensor codes = f.read_tensor(ds);
    codes[3][5] = 255;
    f.remove(ds);
    f.write_tensor(ds, codes);
  }
  expect_refused({"/blocks/1/mlp.up_proj", "codes reach 255", "largest 3-bit code 7"});
}

TEST_F(RunFaults, FlippedByteInTheCodesIsRefused) {
  // A bit flipped inside the stored (deflated) codes of one linear, found through HDF5's chunk index.
  haddr_t addr = 0;
  hsize_t size = 0;
  {
    const h5::File f = h5::File::open(shard(), false);
    const hid_t ds = H5Dopen2(f.id(), "/blocks/2/mlp.down_proj/codes", H5P_DEFAULT);
    const hid_t space = H5Dget_space(ds);
    hsize_t offset[2] = {0, 0};
    unsigned mask = 0;
    const herr_t got = H5Dget_chunk_info(ds, space, 0, offset, &mask, &addr, &size);
    H5Sclose(space);
    H5Dclose(ds);
    ASSERT_GE(got, 0);
    ASSERT_GT(size, 8u);
  }
  std::string bytes = test::read_file(shard());
  bytes[addr + size / 2] ^= 0x01;
  test::write_file(shard(), bytes);
  expect_refused({"/blocks/2/mlp.down_proj/codes", "checksum does not match"});
}

TEST_F(RunFaults, ManifestWithOverlappingBlocksIsRefused) {
  edit_manifest([](nlohmann::json& m) {
    m["world_size"] = 2;
    m["shards"].push_back(m["shards"][0]);
    m["shards"][1]["rank"] = 1;
    m["shards"][1]["first_block"] = 1;
  });
  expect_refused({"manifest.json", "shards[1]", "overlap"});
}

TEST_F(RunFaults, ManifestWithMissingBlocksIsRefused) {
  edit_manifest([](nlohmann::json& m) { m["shards"][0]["end_block"] = 1; });
  expect_refused({"manifest.json", "'shards'", "are in no shard"});
}

TEST_F(RunFaults, ShardPathOutsideTheRunIsRefused) {
  edit_manifest([](nlohmann::json& m) { m["shards"][0]["file"] = "../../x.h5"; });
  expect_refused({"manifest.json", "shards[0].file", "outside the run directory"});
}

TEST_F(RunFaults, UncommittedBlockIsRefused) {
  h5::File(h5::File::open(shard(), true)).set_attr("/blocks/1", "committed", int64_t{0});
  expect_refused({shard_file_name(0, 1), "block 1 is not committed"});
}

TEST_F(RunFaults, ShardWithoutChecksumsIsRefused) {
  {  // the codes rewritten without the Fletcher32 filter, as an older writer would store them
    h5::File f = h5::File::open(shard(), true);
    const std::string ds = "/blocks/0/self_attn.q_proj/codes";
    const at::Tensor codes = f.read_tensor(ds).contiguous();
    f.remove(ds);
    const hsize_t dims[2] = {static_cast<hsize_t>(codes.size(0)), static_cast<hsize_t>(codes.size(1))};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t d = H5Dcreate2(f.id(), ds.c_str(), H5T_NATIVE_UINT8, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, codes.data_ptr()), 0);
    H5Dclose(d), H5Sclose(space);
  }
  expect_refused({"/blocks/0/self_attn.q_proj/codes", "carries no checksum"});
}

// A copy of lowbit-tiny-llama3 in `dir` whose tensor `name` is multiplied by 1.01 (as a changed
// norm or another revision would differ), everything else identical.
std::string model_with_changed(const test::TempDir& dir, const std::string& name) {
  const std::string out = dir.file("changed-model");
  fs::create_directories(out);
  for (const char* f : {"config.json", "tokenizer.json"})
    fs::copy_file(test::tiny_model_dir() + "/" + f, out + "/" + f);
  const SafetensorsFile src(test::tiny_model_dir() + "/model.safetensors");
  std::vector<TensorToWrite> tensors;
  std::vector<float> changed;
  for (const auto& [n, info] : src.tensors()) {
    const TensorView v = src.view(n);
    tensors.push_back({n, info.dtype, info.shape, v.data});
    if (n == name) {
      EXPECT_EQ(info.dtype, DType::F32);
      const auto* x = reinterpret_cast<const float*>(v.data);
      changed.assign(x, x + info.numel());
      for (float& c : changed) c *= 1.01f;
      tensors.back().data = changed.data();
    }
  }
  write_safetensors(out + "/model.safetensors", tensors);
  return out;
}

// Weights the config does not describe (a bias with attention_bias false) would be ignored: refused.
TEST_F(RunFaults, TensorTheConfigDoesNotDescribeIsRefused) {
  const std::string other = model_with_changed(work_, "model.norm.weight");
  const SafetensorsFile src(other + "/model.safetensors");
  std::vector<TensorToWrite> tensors;
  for (const auto& [n, info] : src.tensors()) tensors.push_back({n, info.dtype, info.shape, src.view(n).data});
  const std::vector<float> bias(256, 0.5f);
  tensors.push_back({"model.layers.0.self_attn.q_proj.bias", DType::F32, {256}, bias.data()});
  const std::string biased = work_.file("biased");
  fs::create_directories(biased);
  fs::copy_file(other + "/config.json", biased + "/config.json");
  write_safetensors(biased + "/model.safetensors", tensors);
  EXPECT_LOWBIT_ERROR(load_llama(biased), {"model.safetensors", "1 tensor that", "config.json does not describe",
                                           "model.layers.0.self_attn.q_proj.bias"});
}

TEST_F(RunFaults, BaseModelWithOtherWeightsIsRefusedForEvaluationNamingTheTensor) {
  const std::string other = model_with_changed(work_, "model.layers.1.input_layernorm.weight");
  const auto before = snapshot();
  EXPECT_LOWBIT_ERROR(resolve_eval_target(run_, other),
                      {"manifest.json", "'model.fingerprint'", "other weights",
                       "'model.layers.1.input_layernorm.weight' has other values"});
  EXPECT_EQ(before, snapshot());
}

TEST_F(RunFaults, ResumingWithOtherWeightsIsRefusedNamingTheTensor) {
  const std::string other = model_with_changed(work_, "model.norm.weight");
  const std::string yaml = test::read_file(run_of("w3.yaml"));
  test::write_file(work_.file("resume.yaml"), yaml);
  const std::string run = work_.file("killed");
  quantize_run(ExperimentConfig::from_yaml(work_.file("resume.yaml"), {"output.run_dir=" + run}), 0);
  const std::string shard = run + "/shards/" + shard_file_name(0, 1);
  const std::string before = test::read_file(shard);
  EXPECT_LOWBIT_ERROR(
      quantize_run(ExperimentConfig::from_yaml(work_.file("resume.yaml"), {"output.run_dir=" + run, "model=" + other})),
      {shard_file_name(0, 1), "'model_fingerprint'", "'model.norm.weight' has other values"});
  EXPECT_EQ(test::read_file(shard), before) << "the refused resume changed the shard";
}

// Statistics are checked before a solve: a cached Hessian with a NaN (the cache is shared between
// runs, so a damaged one would reach every later run) stops the run naming the block and input.
TEST_F(RunFaults, NonFiniteStatisticsAreRefusedBeforeTheSolve) {
  const std::string cache = work_.file("stats");
  const auto config = [&](const std::string& run) {
    test::write_file(work_.file("gptq.yaml"),
                     test::read_file(run_of("w3.yaml")) + "distributed:\n  propagation: full_precision\n");
    return ExperimentConfig::from_yaml(work_.file("gptq.yaml"), {"method.name=gptq", "output.statistics_cache=" + cache,
                                                                 "output.run_dir=" + work_.file(run)});
  };
  quantize_run(config("first"), 0);
  std::string file;
  for (const auto& e : fs::recursive_directory_iterator(cache))
    if (e.path().filename() == "block-00000.safetensors") file = e.path().string();
  ASSERT_FALSE(file.empty());
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  std::map<std::string, std::string> metadata;
  {
    const SafetensorsFile f(file);
    metadata = f.metadata();
    for (const auto& [n, info] : f.tensors()) {
      at::Tensor t = at::from_blob(const_cast<std::byte*>(f.view(n).data), info.shape, at::kFloat).clone();
      if (n == "mlp/hessian") t[2][2] = std::numeric_limits<float>::quiet_NaN();
      keep.push_back(t);
      tensors.push_back({n, DType::F32, info.shape, keep.back().data_ptr()});
    }
  }
  write_safetensors(file, tensors, metadata);
  EXPECT_LOWBIT_ERROR(quantize_run(config("second")), {"block 0", "Hessian of the 'mlp' input is not finite"});
  EXPECT_TRUE(ShardReader(work_.file("second") + "/shards/" + shard_file_name(0, 1)).committed_blocks().empty());
}

}  // namespace
}  // namespace lowbit
