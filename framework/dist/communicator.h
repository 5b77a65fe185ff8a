// How pipeline ranks talk: point-to-point tensors (shape and dtype travel with them), broadcast of
// small text, a barrier, a sum over ranks (data parallelism), and an abort that takes every rank down with one message. One interface,
// backends behind it: MPI (always built; CPU tensors, and CUDA tensors staged through host memory)
// and NCCL (CUDA tensors GPU to GPU; bootstrapped over MPI, host tensors still over MPI).
//
// Where a received tensor lands: a tensor sent from a device arrives on the receiver's compute
// device (set_compute_device), a tensor sent from host memory arrives in host memory, whatever the
// backend. So control data (token ids, request metadata) stays on the host and hidden states stay
// on the GPUs.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <stdexcept>

#include "framework/core/error.h"
#include <string>
#include <vector>

namespace lowbit {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void send(const at::Tensor& t, int dst) = 0;
  virtual at::Tensor recv(int src) = 0;
  // Rank `root`'s text on every rank.
  virtual std::string broadcast(const std::string& text, int root) = 0;
  // Every rank's text, on rank 0 (empty elsewhere).
  virtual std::vector<std::string> gather(const std::string& text) = 0;
  virtual void barrier() = 0;
  // Sums `t` (float or double, contiguous) over every rank, in place: data-parallel gradients.
  virtual void all_reduce_sum(at::Tensor& t) = 0;

  // The device this rank computes on (CPU unless set): where tensors sent from a device arrive.
  void set_compute_device(c10::Device d) { device_ = d; }
  c10::Device compute_device() const { return device_; }

 private:
  c10::Device device_{c10::kCPU};
};

// The MPI world when the process was started by mpirun (MPI is initialised on first use and
// finalised at exit), else a single-rank communicator.
Communicator& world();
// A one-rank communicator, whatever the launch: for work that stays in this process.
Communicator& single_rank();

// An error already agreed on by every rank (see collective_step): main prints it on rank 0 only.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

// Runs `step` on every rank. If it throws on any rank, every rank throws CollectiveError with the
// first failing rank's message (so a bad config is reported once, not once per rank, and no rank
// is left waiting). For the set-up phases, before ranks depend on each other's data.
void collective_step(Communicator& comm, const std::function<void()>& step);

// After an error on this rank: print it once with the rank and host, and end every rank.
[[noreturn]] void abort_world(const std::string& message);
// This machine's name, for messages that say where a rank failed.
std::string host_name();
bool world_is_distributed();

}  // namespace lowbit
