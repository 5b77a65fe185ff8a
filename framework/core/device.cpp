#include "framework/core/device.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <cstdlib>

#include "framework/core/error.h"
#include "framework/model/llama_config.h"

#ifdef LOWBIT_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace lowbit {

int launcher_local_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "LOCAL_RANK"})
    if (const char* s = std::getenv(v); s && *s) return std::atoi(s);
  return -1;
}

int cuda_device_count() {
#ifdef LOWBIT_WITH_CUDA
  return static_cast<int>(c10::cuda::device_count());  // 0 (not an error) when no driver or no GPU
#else
  return 0;
#endif
}

c10::Device select_device(const std::string& spec, int rank, const std::string& where) {
  LOWBIT_CHECK(spec == "auto" || spec == "cpu" || spec == "cuda", where, " must be auto, cpu or cuda, got '", spec, "'");
  if (spec == "cpu") return c10::Device(c10::kCPU);
  const int n = cuda_device_count();
  if (n == 0) {
    if (spec == "auto") return c10::Device(c10::kCPU);
#ifdef LOWBIT_WITH_CUDA
    LOWBIT_FAIL(where, " is cuda, but libtorch sees no CUDA device on this machine (check nvidia-smi and "
                "CUDA_VISIBLE_DEVICES), or use cpu");
#else
    LOWBIT_FAIL(where, " is cuda, but this build of lowbit has no CUDA parts (configure with a CUDA libtorch, "
                "nvcc and nccl.h: -DLOWBIT_CUDA=ON), or use cpu");
#endif
  }
  const int local = launcher_local_rank();
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>((local >= 0 ? local : rank) % n));
}

void activate_device(c10::Device d) {
#ifdef LOWBIT_WITH_CUDA
  if (d.is_cuda()) c10::cuda::set_device(d.index());
#else
  LOWBIT_CHECK(!d.is_cuda(), "this build has no CUDA parts");
#endif
}

std::string describe_device(c10::Device d) {
  if (!d.is_cuda()) return fmt::format("cpu ({} thread{})", at::get_num_threads(), at::get_num_threads() > 1 ? "s" : "");
#ifdef LOWBIT_WITH_CUDA
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, d.index()) == cudaSuccess)
    return fmt::format("cuda:{} ({}, {:.1f} GiB)", d.index(), p.name, p.totalGlobalMem / double(1 << 30));
#endif
  return fmt::format("cuda:{}", d.index());
}

c10::ScalarType float_dtype(const std::string& name, const std::string& where) {
  if (name == "float32") return c10::ScalarType::Float;
  if (name == "bfloat16") return c10::ScalarType::BFloat16;
  if (name == "float16") return c10::ScalarType::Half;
  LOWBIT_FAIL(where, " must be float32, bfloat16 or float16, got '", name, "'");
}

std::string float_dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float: return "float32";
    case c10::ScalarType::BFloat16: return "bfloat16";
    case c10::ScalarType::Half: return "float16";
    default: return c10::toString(t);
  }
}

ComputeDtypes compute_dtypes(c10::Device d, const LlamaConfig& config, const std::string& activations) {
  LOWBIT_CHECK(activations == "model" || activations == "float32",
               "distributed.activations must be model or float32, got '", activations, "'");
  ComputeDtypes t;
  if (!d.is_cuda()) return t;  // CPU: fp32 throughout, as the reference tests and CI measure it
  t.weights = float_dtype(config.torch_dtype, "config.json's torch_dtype");
  t.activations = activations == "float32" ? c10::ScalarType::Float : t.weights;
  return t;
}

}  // namespace lowbit
