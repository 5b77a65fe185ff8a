// The MPI backend of Communicator. Every MPI call is checked; a failure names the call, the rank
// and the host.
#include <ATen/ATen.h>
#define OMPI_SKIP_MPICXX 1  // the C API only; OpenMPI's deprecated C++ bindings need their own library
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "framework/core/error.h"
#include "framework/dist/communicator.h"

namespace lowbit {
namespace {

#define MPI_CHECK(call)                                                                                   \
  do {                                                                                                    \
    const int rc_ = (call);                                                                               \
    if (rc_ != MPI_SUCCESS) {                                                                             \
      char msg_[MPI_MAX_ERROR_STRING];                                                                    \
      int len_ = 0;                                                                                       \
      MPI_Error_string(rc_, msg_, &len_);                                                                 \
      LOWBIT_FAIL(#call, " failed on ", host_name(), " (", __FILE__, ":", __LINE__, "): ", std::string(msg_, len_)); \
    }                                                                                                     \
  } while (0)

// Launched by mpirun (or srun)? Then MPI is worth initialising.
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

constexpr int kTagHeader = 101, kTagData = 102;
constexpr int64_t kChunk = int64_t{1} << 30;  // MPI counts are int: send large tensors in pieces

int dtype_code(c10::ScalarType t) { return static_cast<int>(t); }

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
      std::atexit([] {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin) MPI_Finalize();
      });
    }
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  // Header: [dtype, ndim, sent from a device (0/1), shape...]; CUDA tensors are staged through host
  // memory (the fallback for ranks that share a GPU, where NCCL refuses to run).
  void send(const at::Tensor& t, int dst) override {
    const at::Tensor c = t.contiguous().cpu();
    std::vector<int64_t> header{dtype_code(c.scalar_type()), c.dim(), t.device().is_cpu() ? 0 : 1};
    for (int64_t d : c.sizes()) header.push_back(d);
    MPI_CHECK(MPI_Send(header.data(), static_cast<int>(header.size()), MPI_INT64_T, dst, kTagHeader, MPI_COMM_WORLD));
    const auto* p = static_cast<const char*>(c.data_ptr());
    const int64_t bytes = c.numel() * static_cast<int64_t>(c.element_size());
    for (int64_t off = 0; off < bytes; off += kChunk)
      MPI_CHECK(MPI_Send(p + off, static_cast<int>(std::min(kChunk, bytes - off)), MPI_BYTE, dst, kTagData, MPI_COMM_WORLD));
  }

  at::Tensor recv(int src) override {
    MPI_Status st;
    MPI_CHECK(MPI_Probe(src, kTagHeader, MPI_COMM_WORLD, &st));
    int count = 0;
    MPI_CHECK(MPI_Get_count(&st, MPI_INT64_T, &count));
    std::vector<int64_t> header(count);
    MPI_CHECK(MPI_Recv(header.data(), count, MPI_INT64_T, src, kTagHeader, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    LOWBIT_CHECK(count >= 3 && header[1] == count - 3, "malformed tensor header from rank ", src);
    const std::vector<int64_t> shape(header.begin() + 3, header.end());
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(static_cast<c10::ScalarType>(header[0])));
    auto* p = static_cast<char*>(t.data_ptr());
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    for (int64_t off = 0; off < bytes; off += kChunk)
      MPI_CHECK(MPI_Recv(p + off, static_cast<int>(std::min(kChunk, bytes - off)), MPI_BYTE, src, kTagData,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    return header[2] && !compute_device().is_cpu() ? t.to(compute_device()) : t;
  }

  std::string broadcast(const std::string& text, int root) override {
    int64_t n = static_cast<int64_t>(text.size());
    MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD));
    std::string out = rank_ == root ? text : std::string(static_cast<std::size_t>(n), '\0');
    if (n > 0) MPI_CHECK(MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD));
    return out;
  }

  std::vector<std::string> gather(const std::string& text) override {
    int n = static_cast<int>(text.size());
    std::vector<int> sizes(rank_ == 0 ? size_ : 0);
    MPI_CHECK(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD));
    std::vector<int> offsets(sizes.size());
    int total = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) offsets[i] = total, total += sizes[i];
    std::string all(static_cast<std::size_t>(total), '\0');
    MPI_CHECK(MPI_Gatherv(text.data(), n, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < sizes.size(); ++i) out.push_back(all.substr(offsets[i], sizes[i]));
    return out;
  }

  void barrier() override { MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }

  // Device tensors are staged through host memory, in pieces MPI's int counts can hold.
  void all_reduce_sum(at::Tensor& t) override {
    LOWBIT_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
                 "all_reduce_sum of a ", c10::toString(t.scalar_type()), " tensor (float or double only)");
    at::Tensor host = t.is_cpu() && t.is_contiguous() ? t : t.contiguous().cpu();
    const MPI_Datatype type = t.scalar_type() == at::kFloat ? MPI_FLOAT : MPI_DOUBLE;
    const int64_t n = host.numel(), size = static_cast<int64_t>(host.element_size());
    auto* p = static_cast<char*>(host.data_ptr());
    for (int64_t off = 0; off < n; off += kChunk / size)
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p + off * size, static_cast<int>(std::min(kChunk / size, n - off)), type,
                              MPI_SUM, MPI_COMM_WORLD));
    if (!host.is_same(t)) t.copy_(host);
  }

 private:
  int rank_ = 0, size_ = 1;
};

class SingleRank : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void send(const at::Tensor&, int dst) override { LOWBIT_FAIL("no rank ", dst, " in a single-process run"); }
  at::Tensor recv(int src) override { LOWBIT_FAIL("no rank ", src, " in a single-process run"); }
  std::string broadcast(const std::string& text, int) override { return text; }
  std::vector<std::string> gather(const std::string& text) override { return {text}; }
  void barrier() override {}
  void all_reduce_sum(at::Tensor&) override {}
};

}  // namespace

bool world_is_distributed() { return launched_by_mpi(); }

void collective_step(Communicator& comm, const std::function<void()>& step) {
  std::string message;
  try {
    step();
  } catch (const std::exception& e) {
    message = comm.size() > 1 ? "rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()) + " (" +
                                    host_name() + "): " + e.what()
                              : e.what();
  }
  if (comm.size() == 1) {
    if (!message.empty()) throw CollectiveError(message);
    return;
  }
  std::string first;
  if (comm.rank() == 0)
    for (const std::string& m : comm.gather(message))
      if (!m.empty()) {
        first = m;
        break;
      }
  if (comm.rank() != 0) comm.gather(message);
  first = comm.broadcast(first, 0);
  if (!first.empty()) throw CollectiveError(first);
}

std::string host_name() {
  char h[256] = {0};
  gethostname(h, sizeof h - 1);
  return h;
}

Communicator& world() {
  static std::unique_ptr<Communicator> w = launched_by_mpi() ? std::unique_ptr<Communicator>(new MpiCommunicator())
                                                             : std::unique_ptr<Communicator>(new SingleRank());
  return *w;
}

Communicator& single_rank() {
  static SingleRank one;
  return one;
}

void abort_world(const std::string& message) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    std::fprintf(stderr, "lowbit: error on rank %d of %d (%s): %s\n", rank, size, host_name().c_str(), message.c_str());
    std::fflush(stderr);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    std::exit(1);
  }
  std::fprintf(stderr, "lowbit: error: %s\n", message.c_str());
  std::exit(1);
}

}  // namespace lowbit
