// The NCCL backend of Communicator, for CUDA tensors between GPUs (built when the CUDA/NCCL parts
// are on). Bootstrapped over the MPI world: rank 0's ncclUniqueId is broadcast with MPI; tensor
// headers (shape, dtype), host tensors and small messages also travel over MPI, CUDA tensor data
// over NCCL on a dedicated stream, ordered against libtorch's current stream with events (no host
// synchronisation). Collective: every rank of `mpi_world` calls it, each with its own GPU.
#pragma once

#include <c10/core/Device.h>

#include <memory>

#include "framework/dist/communicator.h"

namespace lowbit {

// Throws naming what is missing when this build has no CUDA/NCCL parts.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& mpi_world, c10::Device device);

}  // namespace lowbit
