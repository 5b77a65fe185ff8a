#include "framework/dist/nccl_communicator.h"

#include "framework/core/error.h"

#ifdef LOWBIT_WITH_CUDA
#include <ATen/ATen.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>
#endif

namespace lowbit {

#ifndef LOWBIT_WITH_CUDA

std::unique_ptr<Communicator> make_nccl_communicator(Communicator&) {
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
  explicit NcclCommunicator(Communicator& mpi) : mpi_(mpi) {
    int devices = 0;
    CUDA_CHECK(cudaGetDeviceCount(&devices));
    LOWBIT_CHECK(devices > 0, "distributed.backend 'nccl': no CUDA device visible on ", host_name());
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!local) local = std::getenv("SLURM_LOCALID");
    device_ = (local ? std::atoi(local) : mpi.rank()) % devices;
    CUDA_CHECK(cudaSetDevice(device_));
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
  }
  ~NcclCommunicator() override {
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }

  void send(const at::Tensor& t, int dst) override {
    LOWBIT_CHECK(t.is_cuda(), "NCCL send needs a CUDA tensor");
    const at::Tensor c = t.contiguous();
    // The header travels over MPI as a tiny tensor of int64: dtype, ndim, shape.
    std::vector<int64_t> header{static_cast<int64_t>(c.scalar_type()), c.dim()};
    for (int64_t d : c.sizes()) header.push_back(d);
    mpi_.send(at::tensor(header, at::kLong), dst);
    CUDA_CHECK(cudaDeviceSynchronize());  // c's producers finished on their streams
    NCCL_CHECK(ncclSend(c.data_ptr(), static_cast<size_t>(c.numel()), nccl_type(c.scalar_type()), dst, comm_, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  at::Tensor recv(int src) override {
    const at::Tensor header = mpi_.recv(src);
    const int64_t* h = header.data_ptr<int64_t>();
    LOWBIT_CHECK(header.numel() >= 2 && h[1] == header.numel() - 2, "malformed tensor header from rank ", src);
    const std::vector<int64_t> shape(h + 2, h + header.numel());
    at::Tensor t = at::empty(shape, at::TensorOptions()
                                        .dtype(static_cast<c10::ScalarType>(h[0]))
                                        .device(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_))));
    NCCL_CHECK(ncclRecv(t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t.scalar_type()), src, comm_, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return t;
  }

  std::string broadcast(const std::string& text, int root) override { return mpi_.broadcast(text, root); }
  std::vector<std::string> gather(const std::string& text) override { return mpi_.gather(text); }
  void barrier() override { mpi_.barrier(); }

 private:
  Communicator& mpi_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& mpi_world) {
  return std::make_unique<NcclCommunicator>(mpi_world);
}

#endif

}  // namespace lowbit
