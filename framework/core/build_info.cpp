#include "framework/core/build_info.h"

#include <ATen/Parallel.h>
#include <ATen/Context.h>
#include <torch/version.h>

#include <sstream>

#ifdef LOWBIT_WITH_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace lowbit {

std::string build_info() {
  std::ostringstream o;
  o << "lowbit " << LOWBIT_VERSION << "\n";
  o << "libtorch " << TORCH_VERSION << ", intra-op threads " << at::get_num_threads() << "\n";
#ifdef LOWBIT_WITH_CUDA
  int nccl = 0;
  ncclGetVersion(&nccl);
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  o << "CUDA/NCCL parts: built (CUDA runtime " << runtime / 1000 << "." << (runtime % 1000) / 10 << ", NCCL "
    << nccl / 10000 << "." << (nccl / 100) % 100 << "." << nccl % 100 << "), CUDA devices visible: " << devices << "\n";
#else
  o << "CUDA/NCCL parts: not built (CPU only)\n";
#endif
  return o.str();
}

}  // namespace lowbit
