// How pipeline ranks talk: point-to-point tensors (shape and dtype travel with them), broadcast of
// small text, a barrier, and an abort that takes every rank down with one message. One interface,
// backends behind it: MPI for CPU tensors (always built; CI and CPU users), NCCL for CUDA tensors
// (the GPU machines; bootstrapped over MPI).
#pragma once

#include <ATen/core/Tensor.h>

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
