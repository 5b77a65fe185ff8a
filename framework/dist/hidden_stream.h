// Hidden states [N, L, hidden] passed from one pipeline rank to the next in micro-batches of
// sequences: no single message carries a rank's whole activation set (8.6 GB for LLaMA3-70B's
// 128 × 2048 calibration tokens in fp32), and the sender pushes each micro-batch as soon as its
// forward has produced it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lowbit {

class Communicator;

class HiddenStreamSender {
 public:
  // Announces `sequences` sequences to rank `dst`.
  HiddenStreamSender(Communicator& comm, int dst, int64_t sequences);
  // chunk [n, L, hidden]: the next n sequences, in order.
  void push(const at::Tensor& chunk);

 private:
  Communicator& comm_;
  int dst_;
  int64_t left_;
};

// Sends hidden [N, L, hidden] in chunks of `micro` sequences.
void send_hidden(Communicator& comm, const at::Tensor& hidden, int64_t micro, int dst);

// Receives one stream from rank `src` into one tensor [N, L, hidden].
at::Tensor receive_hidden(Communicator& comm, int src);

}  // namespace lowbit
