// Devices and backends as a CPU machine sees them (docs/devices.md): the config keys and their
// validation, what `auto` picks without a GPU, the dtypes per device kind, and the refusals that
// must name the reason (cuda without a GPU, nccl for CPU ranks). The CUDA side is tests/cuda/.
#include <gtest/gtest.h>

#include "framework/config/experiment_config.h"
#include "framework/core/device.h"
#include "framework/dist/communicator.h"
#include "framework/dist/rank_devices.h"
#include "framework/model/llama_config.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_paths.h"

namespace lowbit {
namespace {

std::string write_experiment(const test::TempDir& dir, const std::string& distributed) {
  test::write_file(dir.file("exp.yaml"), "model: " + test::tiny_model_dir() +
                                             "\nmethod:\n  name: rtn\ncalibration:\n  source: train.txt\n"
                                             "distributed:\n" + distributed + "output:\n  run_dir: " + dir.file("run") + "\n");
  return dir.file("exp.yaml");
}

TEST(DeviceConfig, DefaultsAreAutoDeviceAutoBackendModelActivations) {
  test::TempDir dir;
  const ExperimentConfig c = ExperimentConfig::from_yaml(write_experiment(dir, "  micro_batch: 2\n"));
  EXPECT_EQ(c.distributed.device, "auto");
  EXPECT_EQ(c.distributed.backend, "auto");
  EXPECT_EQ(c.distributed.activations, "model");
  const ExperimentConfig d = ExperimentConfig::from_yaml(
      write_experiment(dir, "  device: cuda\n  backend: nccl\n  activations: float32\n"));
  EXPECT_EQ(d.distributed.device, "cuda");
  EXPECT_EQ(d.distributed.backend, "nccl");
  EXPECT_EQ(d.distributed.activations, "float32");
}

TEST(DeviceConfig, BadValuesAreRefusedNamingTheKey) {
  test::TempDir dir;
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "  device: gpu\n")),
                      {"exp.yaml", "'distributed.device'", "auto, cpu or cuda", "gpu"});
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "  backend: gloo\n")),
                      {"exp.yaml", "'distributed.backend'", "gloo"});
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "  activations: bf16\n")),
                      {"exp.yaml", "'distributed.activations'", "model or float32"});
  EXPECT_LOWBIT_ERROR(ExperimentConfig::from_yaml(write_experiment(dir, "  device: cpu\n  backend: nccl\n")),
                      {"exp.yaml", "nccl", "distributed.device is cpu"});
}

TEST(Devices, DtypesFollowTheDeviceKind) {
  LlamaConfig c;
  c.torch_dtype = "bfloat16";
  const ComputeDtypes cpu = compute_dtypes(c10::Device(c10::kCPU), c, "model");
  EXPECT_EQ(cpu.weights, c10::ScalarType::Float);  // CPU: fp32 throughout, CI's numbers
  EXPECT_EQ(cpu.activations, c10::ScalarType::Float);
  const ComputeDtypes gpu = compute_dtypes(c10::Device(c10::kCUDA, 0), c, "model");
  EXPECT_EQ(gpu.weights, c10::ScalarType::BFloat16);  // CUDA: the checkpoint's dtype
  EXPECT_EQ(gpu.activations, c10::ScalarType::BFloat16);
  EXPECT_EQ(compute_dtypes(c10::Device(c10::kCUDA, 0), c, "float32").activations, c10::ScalarType::Float);
  EXPECT_LOWBIT_ERROR(compute_dtypes(c10::Device(c10::kCPU), c, "half"), {"distributed.activations", "half"});
}

TEST(Devices, AutoAndCpuPickTheCpuWithoutAGpu) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is visible: auto picks it (tests/cuda covers that)";
  EXPECT_TRUE(select_device("auto", 0, "device").is_cpu());
  EXPECT_TRUE(select_device("cpu", 3, "device").is_cpu());
  EXPECT_LOWBIT_ERROR(select_device("cuda", 0, "--device"), {"--device is cuda", "no CUDA"});
  EXPECT_LOWBIT_ERROR(select_device("tpu", 0, "--device"), {"--device", "auto, cpu or cuda", "tpu"});
}

TEST(Devices, CudaRankUsesItsLocalRankModuloTheDevices) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible: the GPU choice cannot be checked here";
  EXPECT_EQ(select_device("cuda", cuda_device_count() + 1, "device").index(), 1 % cuda_device_count());
}

TEST(RankDevices, OneCpuRankUsesMpiAndSaysSo) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is visible";
  const RankDevices d = setup_rank_devices(single_rank(), "auto", "auto", "--device", "--backend");
  EXPECT_TRUE(d.device.is_cpu());
  EXPECT_EQ(d.backend, "mpi");
  EXPECT_EQ(&d.pipeline(single_rank()), &single_rank());
  EXPECT_NE(d.banner().find("rank 0: cpu ("), std::string::npos) << d.banner();
}

TEST(RankDevices, NcclForCpuRanksIsRefusedWithTheReason) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is visible";
  EXPECT_LOWBIT_ERROR(setup_rank_devices(single_rank(), "cpu", "nccl", "--device", "--backend"),
                      {"--backend is nccl", "not every rank computes on a GPU"});
  EXPECT_LOWBIT_ERROR(setup_rank_devices(single_rank(), "cpu", "ucx", "--device", "--backend"),
                      {"--backend must be auto, mpi or nccl", "ucx"});
}

}  // namespace
}  // namespace lowbit
