// Each rank's compute device and the backend its pipeline traffic uses, decided together once per
// run (docs/devices.md): the device from `distributed.device` / `--device`, then the backend —
// NCCL between CUDA ranks that each have a GPU of their own, MPI otherwise (MPI stages CUDA tensors
// through host memory, which is also what works when several ranks share one GPU: NCCL refuses
// that).
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <vector>

namespace lowbit {

class Communicator;

struct RankDevices {
  c10::Device device{c10::kCPU};  // this rank's
  std::string backend;            // "mpi" or "nccl", as chosen
  std::vector<std::string> ranks;  // on rank 0: "rank r: <device> on <host>", one line per rank
  std::unique_ptr<Communicator> nccl;  // the NCCL communicator when backend is nccl

  // The communicator for tensors between ranks (and, through it, the MPI collectives).
  Communicator& pipeline(Communicator& world) const;
  // One line for a banner: "devices: cuda (8 ranks, nccl)" plus the per-rank lines.
  std::string banner() const;
};

// Collective over `world`. `device_spec` is auto|cpu|cuda, `backend` auto|mpi|nccl; `where` prefixes
// the names in error messages ("CONFIG.yaml: key 'distributed." or "--"). Errors (no GPU for cuda,
// nccl asked for ranks that share a GPU) stop every rank with one message.
RankDevices setup_rank_devices(Communicator& world, const std::string& device_spec, const std::string& backend,
                               const std::string& where_device, const std::string& where_backend);

}  // namespace lowbit
