// How pipeline ranks talk: point-to-point tensors (shape and dtype travel with them), broadcast of
// small text, a barrier, and an abort that takes every rank down with one message. One interface,
// backends behind it: MPI for CPU tensors (always built; CI and CPU users), NCCL for CUDA tensors
// (the GPU machines; bootstrapped over MPI).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
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
};

// The MPI world when the process was started by mpirun (MPI is initialised on first use and
// finalised at exit), else a single-rank communicator.
Communicator& world();

// After an error on this rank: print it once with the rank and host, and end every rank.
[[noreturn]] void abort_world(const std::string& message);
// This machine's name, for messages that say where a rank failed.
std::string host_name();
bool world_is_distributed();

}  // namespace lowbit
