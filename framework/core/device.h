// Which device a rank computes on, and in which dtypes (docs/devices.md). The driver picks the
// device once per rank; everything below it (forward, statistics, methods, scorer) follows the
// device of the tensors it is given.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace lowbit {

struct LlamaConfig;

// The node-local rank from the launcher (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID or LOCAL_RANK);
// -1 when none of them is set.
int launcher_local_rank();

// CUDA devices libtorch sees (0 in a build without the CUDA parts or on a machine without GPUs).
int cuda_device_count();

// `spec` is auto | cpu | cuda (`where` names the config key or flag for the error message).
// auto: CUDA when libtorch sees a GPU, else CPU. cuda: GPU (local rank mod device count), where the
// local rank is the launcher's, else `rank`; refused with the reason when no GPU is visible.
c10::Device select_device(const std::string& spec, int rank, const std::string& where);

// Makes `d` the current CUDA device of this process (a no-op for CPU), so that libtorch's streams,
// NCCL and cuBLAS handles are created on it.
void activate_device(c10::Device d);

// "cpu (2 threads)" or "cuda:1 (NVIDIA H200, 139.8 GiB)".
std::string describe_device(c10::Device d);

// The dtypes a rank computes in (docs/devices.md):
//  - CPU: weights and hidden states in fp32 (the reference tests' numbers and CI's);
//  - CUDA: weights in the checkpoint's dtype (bf16 for LLaMA3), hidden states between blocks in the
//    same dtype unless `activations` is "float32".
// Statistics (Hessians, channel statistics) accumulate in fp32 and solvers run in fp32 on any device.
struct ComputeDtypes {
  c10::ScalarType weights = c10::ScalarType::Float;
  c10::ScalarType activations = c10::ScalarType::Float;
};
// `activations` is "model" or "float32".
ComputeDtypes compute_dtypes(c10::Device d, const LlamaConfig& config, const std::string& activations);

// "float32" -> Float, "bfloat16" -> BFloat16, "float16" -> Half; anything else is refused naming `where`.
c10::ScalarType float_dtype(const std::string& name, const std::string& where);
// The inverse, as config.json spells dtypes: "float32", "bfloat16", "float16".
std::string float_dtype_name(c10::ScalarType t);

}  // namespace lowbit
