// The NCCL backend of Communicator, for CUDA tensors between GPUs (built when the CUDA/NCCL parts
// are on). Bootstrapped over the MPI world: rank 0's ncclUniqueId is broadcast with MPI; tensor
// headers (shape, dtype) and small messages also travel over MPI, tensor data over NCCL on a
// dedicated stream. Each rank uses GPU (local rank mod visible devices).
#pragma once

#include <memory>

#include "framework/dist/communicator.h"

namespace lowbit {

// Throws naming what is missing when this build has no CUDA/NCCL parts.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& mpi_world);

}  // namespace lowbit
