#include "framework/dist/rank_devices.h"

#include <fmt/format.h>

#include <set>

#include "framework/core/device.h"
#include "framework/core/error.h"
#include "framework/dist/communicator.h"
#include "framework/dist/nccl_communicator.h"

namespace lowbit {

Communicator& RankDevices::pipeline(Communicator& world) const { return nccl ? *nccl : world; }

std::string RankDevices::banner() const {
  std::string s = fmt::format("devices: {} ({} rank{}, backend {})\n", device.is_cuda() ? "cuda" : "cpu", ranks.size(),
                              ranks.size() == 1 ? "" : "s", backend);
  for (const std::string& r : ranks) s += "  " + r + "\n";
  return s;
}

RankDevices setup_rank_devices(Communicator& world, const std::string& device_spec, const std::string& backend,
                               const std::string& where_device, const std::string& where_backend) {
  RankDevices out;
  collective_step(world, [&] {
    LOWBIT_CHECK(backend == "auto" || backend == "mpi" || backend == "nccl", where_backend,
                 " must be auto, mpi or nccl, got '", backend, "'");
    out.device = select_device(device_spec, world.rank(), where_device);
    activate_device(out.device);
  });
  world.set_compute_device(out.device);

  // Rank 0 sees every rank's host and device and decides the backend for all.
  const std::string mine = fmt::format("{}\t{}\t{}", host_name(), out.device.str(), describe_device(out.device));
  const std::vector<std::string> all = world.gather(mine);
  std::string decision;  // "mpi", "nccl" or "error:<message>"
  if (world.rank() == 0) {
    bool all_cuda = true, any_cuda = false, shared = false;
    std::string shared_what;
    std::set<std::string> seen;
    for (std::size_t r = 0; r < all.size(); ++r) {
      const std::size_t t1 = all[r].find('\t'), t2 = all[r].find('\t', t1 + 1);
      const std::string host = all[r].substr(0, t1), dev = all[r].substr(t1 + 1, t2 - t1 - 1);
      out.ranks.push_back(fmt::format("rank {}: {} on {}", r, all[r].substr(t2 + 1), host));
      all_cuda = all_cuda && dev.rfind("cuda", 0) == 0;
      any_cuda = any_cuda || dev.rfind("cuda", 0) == 0;
      if (!seen.insert(host + " " + dev).second && dev.rfind("cuda", 0) == 0 && !shared) {
        shared = true;
        shared_what = fmt::format("{} on {}", dev, host);
      }
    }
    const bool nccl_possible = all_cuda && !shared;
    if (any_cuda && !all_cuda) {  // dtypes differ by device kind (docs/devices.md): one kind per run
      decision = fmt::format("error:{} is {}, and some ranks found a GPU while others did not (a node without "
                             "GPUs?): every rank must compute on the same kind of device; set it to cuda or cpu",
                             where_device, device_spec);
    } else if (backend == "mpi" || (backend == "auto" && (!nccl_possible || all.size() == 1))) {
      decision = "mpi";
    } else if (nccl_possible) {
      decision = "nccl";
    } else {
      decision = !all_cuda ? fmt::format("error:{} is nccl, which moves CUDA tensors, but not every rank computes on "
                                         "a GPU (set the device to cuda, or use backend mpi)", where_backend)
                           : fmt::format("error:{} is nccl, but several ranks share {}, which NCCL refuses; use "
                                         "backend mpi (it stages tensors through host memory) or one rank per GPU",
                                         where_backend, shared_what);
    }
  }
  decision = world.broadcast(decision, 0);
  if (decision.rfind("error:", 0) == 0) throw CollectiveError(decision.substr(6));
  out.backend = decision;
  if (out.backend == "nccl") out.nccl = make_nccl_communicator(world, out.device);
  return out;
}

}  // namespace lowbit
