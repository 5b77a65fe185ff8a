#include "framework/dist/hidden_stream.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "framework/core/error.h"
#include "framework/dist/communicator.h"

namespace lowbit {

HiddenStreamSender::HiddenStreamSender(Communicator& comm, int dst, int64_t sequences)
    : comm_(comm), dst_(dst), left_(sequences) {
  comm_.send(at::tensor({sequences}, at::kLong), dst_);
}

void HiddenStreamSender::push(const at::Tensor& chunk) {
  LOWBIT_ASSERT(chunk.dim() == 3 && chunk.size(0) <= left_, "hidden stream: chunk ", chunk.sizes(), " with ", left_,
                " sequences left");
  comm_.send(chunk.contiguous(), dst_);
  left_ -= chunk.size(0);
}

void send_hidden(Communicator& comm, const at::Tensor& hidden, int64_t micro, int dst) {
  HiddenStreamSender out(comm, dst, hidden.size(0));
  for (int64_t s = 0; s < hidden.size(0); s += micro) out.push(hidden.narrow(0, s, std::min(micro, hidden.size(0) - s)));
}

at::Tensor receive_hidden(Communicator& comm, int src) {
  const at::Tensor header = comm.recv(src);
  LOWBIT_CHECK(header.dim() == 1 && header.numel() == 1 && header.scalar_type() == at::kLong,
               "hidden stream from rank ", src, ": malformed header");
  const int64_t total = header.item<int64_t>();
  at::Tensor out;
  for (int64_t got = 0; got < total;) {
    const at::Tensor chunk = comm.recv(src);  // [n, L, hidden]
    LOWBIT_CHECK(chunk.dim() == 3 && chunk.size(0) >= 1 && got + chunk.size(0) <= total, "hidden stream from rank ",
                 src, ": chunk ", chunk.sizes(), " after ", got, " of ", total, " sequences");
    if (!out.defined()) out = at::empty({total, chunk.size(1), chunk.size(2)}, chunk.options());
    LOWBIT_CHECK(chunk.size(1) == out.size(1) && chunk.size(2) == out.size(2) && chunk.scalar_type() == out.scalar_type(),
                 "hidden stream from rank ", src, ": chunk ", chunk.sizes(), " does not match ", out.sizes());
    out.narrow(0, got, chunk.size(0)).copy_(chunk);
    got += chunk.size(0);
  }
  return out;
}

}  // namespace lowbit
