#include "framework/dist/nccl_communicator.h"

#include "framework/core/error.h"

#ifdef LOWBIT_WITH_CUDA
#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>
#include <vector>
#endif

namespace lowbit {

#ifndef LOWBIT_WITH_CUDA

std::unique_ptr<Communicator> make_nccl_communicator(Communicator&, c10::Device) {
  LOWBIT_FAIL("distributed.backend 'nccl' needs the CUDA/NCCL parts, which this build does not have "
              "(configure with a CUDA libtorch, nvcc and nccl.h; -DLOWBIT_CUDA=ON)");
}

#else

namespace {

#define CUDA_CHECK(call)                                                                          \
  do {                                                                                            \
    const cudaError_t e_ = (call);                                                                \
    LOWBIT_CHECK(e_ == cudaSuccess, #call, " failed on ", host_name(), " (", __FILE__, ":", __LINE__, \
                 "): ", cudaGetErrorString(e_));                                                  \
  } while (0)

#define NCCL_CHECK(call)                                                                          \
  do {                                                                                            \
    const ncclResult_t r_ = (call);                                                               \
    LOWBIT_CHECK(r_ == ncclSuccess, #call, " failed on ", host_name(), " (", __FILE__, ":", __LINE__, \
                 "): ", ncclGetErrorString(r_));                                                  \
  } while (0)

ncclDataType_t nccl_type(c10::ScalarType t) {
  switch (t) {
    case at::kFloat: return ncclFloat32;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kDouble: return ncclFloat64;
    case at::kInt: return ncclInt32;
    case at::kLong: return ncclInt64;
    case at::kByte: return ncclUint8;
    case at::kChar: return ncclInt8;
    default: LOWBIT_FAIL("NCCL: cannot send tensors of type ", c10::toString(t));
  }
}

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(Communicator& mpi, c10::Device device) : mpi_(mpi), device_(device) {
    LOWBIT_CHECK(device.is_cuda(), "the NCCL backend needs a CUDA device, got ", device.str());
    set_compute_device(device);
    CUDA_CHECK(cudaSetDevice(device.index()));
    ncclUniqueId id;
    std::string bytes(sizeof id, '\0');
    if (mpi.rank() == 0) {
      NCCL_CHECK(ncclGetUniqueId(&id));
      std::memcpy(bytes.data(), &id, sizeof id);
    }
    bytes = mpi.broadcast(bytes, 0);
    std::memcpy(&id, bytes.data(), sizeof id);
    NCCL_CHECK(ncclCommInitRank(&comm_, mpi.size(), id, mpi.rank()));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
  }
  ~NcclCommunicator() override {
    if (event_) cudaEventDestroy(event_);
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }

  // Header over MPI (a host tensor): [over NCCL (0/1), dtype, ndim, shape...]. Host tensors follow
  // over MPI, CUDA tensors over NCCL.
  void send(const at::Tensor& t, int dst) override {
    const bool nccl = t.is_cuda();
    const at::Tensor c = t.contiguous();
    std::vector<int64_t> header{nccl ? 1 : 0, static_cast<int64_t>(c.scalar_type()), c.dim()};
    for (int64_t d : c.sizes()) header.push_back(d);
    mpi_.send(at::tensor(header, at::kLong), dst);
    if (!nccl) return mpi_.send(c, dst);
    LOWBIT_CHECK(c.device() == device_, "NCCL send of a tensor on ", c.device().str(), " from a rank on ", device_.str());
    wait(stream_, torch_stream());  // c's producers have run
    NCCL_CHECK(ncclSend(c.data_ptr(), static_cast<size_t>(c.numel()), nccl_type(c.scalar_type()), dst, comm_, stream_));
    wait(torch_stream(), stream_);  // c is not freed and reused before the send has read it
  }

  at::Tensor recv(int src) override {
    const at::Tensor header = mpi_.recv(src);
    const int64_t* h = header.data_ptr<int64_t>();
    LOWBIT_CHECK(header.numel() >= 3 && h[2] == header.numel() - 3, "malformed tensor header from rank ", src);
    if (!h[0]) return mpi_.recv(src);
    const std::vector<int64_t> shape(h + 3, h + header.numel());
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(static_cast<c10::ScalarType>(h[1])).device(device_));
    wait(stream_, torch_stream());  // t's memory may have been in use by kernels still queued there
    NCCL_CHECK(ncclRecv(t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t.scalar_type()), src, comm_, stream_));
    wait(torch_stream(), stream_);  // t is read on libtorch's stream only after it has arrived
    return t;
  }

  std::string broadcast(const std::string& text, int root) override { return mpi_.broadcast(text, root); }
  std::vector<std::string> gather(const std::string& text) override { return mpi_.gather(text); }
  void barrier() override { mpi_.barrier(); }

  // CUDA tensors over NCCL on the rank's device, host tensors over MPI.
  void all_reduce_sum(at::Tensor& t) override {
    if (!t.is_cuda()) return mpi_.all_reduce_sum(t);
    LOWBIT_CHECK(t.device() == device_ && t.is_contiguous(), "NCCL all-reduce of a tensor on ", t.device().str(),
                 " (contiguous, on ", device_.str(), " expected)");
    wait(stream_, torch_stream());
    NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t.scalar_type()),
                             ncclSum, comm_, stream_));
    wait(torch_stream(), stream_);
  }

 private:
  cudaStream_t torch_stream() const { return c10::cuda::getCurrentCUDAStream(device_.index()).stream(); }
  // `waiter` runs nothing more until what `producer` has queued so far is done (no host wait).
  void wait(cudaStream_t waiter, cudaStream_t producer) {
    CUDA_CHECK(cudaEventRecord(event_, producer));
    CUDA_CHECK(cudaStreamWaitEvent(waiter, event_, 0));
  }

  Communicator& mpi_;
  c10::Device device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t event_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& mpi_world, c10::Device device) {
  return std::make_unique<NcclCommunicator>(mpi_world, device);
}

#endif

}  // namespace lowbit
