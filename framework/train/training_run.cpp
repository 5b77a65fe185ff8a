#include "framework/train/training_run.h"

#include <ATen/Parallel.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "framework/dist/communicator.h"
#include "framework/train/checkpoint.h"

namespace lowbit {

namespace fs = std::filesystem;

TrainingOutput open_training_output(Communicator& comm, const std::string& dir, const std::string& command,
                                    const std::string& source) {
  TrainingOutput out;
  out.dir = dir;
  out.checkpoint = (fs::path(dir) / "checkpoint").string();
  collective_step(comm, [&] {
    if (comm.rank() != 0) return;
    fs::create_directories(dir);
    out.lock = std::make_unique<FileLock>((fs::path(dir) / (".lowbit-" + command + ".lock")).string(),
                                          "lowbit " + command + " " + source);
  });
  out.resume = find_checkpoint(out.checkpoint);
  return out;
}

void make_data_parallel(TrainSpec& spec, Communicator& comm) {
  if (comm.size() > 1) spec.all_reduce = [&comm](at::Tensor& t) { comm.all_reduce_sum(t); };
  spec.float64_accumulation = true;  // the same result on any world size (trainer.h)
  spec.rank = comm.rank();
  spec.world = comm.size();
  spec.print = comm.rank() == 0;
}

std::function<void(const TrainProgress&)> checkpoint_saver(const TrainingOutput& out, int rank, const AdamW& optimizer,
                                                          const std::string& fingerprint,
                                                          std::function<void(const std::string& tmp_dir)> write_trained) {
  return [&out, rank, &optimizer, fingerprint, write_trained](const TrainProgress& p) {
    if (rank != 0) return;
    save_training_checkpoint(out.checkpoint, write_trained, optimizer, p, fingerprint);
    // Fault injection for the kill tests (tests/mpi): die like a killed rank right after a checkpoint.
    if (const char* kill_after = std::getenv("LOWBIT_TEST_KILL_AFTER_STEP"); kill_after && std::atoll(kill_after) == p.step)
      ::kill(::getpid(), SIGKILL);
  };
}

RankDevices training_devices(const TrainingSettings& t, const std::string& source) {
  Communicator& mpi = world();
  collective_step(mpi, [&] {
    if (t.threads > 0) at::set_num_threads(t.threads);
  });
  const std::string key = source + ": key 'training.device'";
  return setup_rank_devices(mpi, t.device, "auto", key, key);
}

TrainConfig loop_settings(const std::string& source, const OptimConfig& optim, int64_t stop_after_steps,
                          const TrainingSettings& t) {
  TrainConfig loop;
  loop.source = source;
  loop.optim = optim;
  if (stop_after_steps > 0 && stop_after_steps < optim.steps) loop.optim.steps = stop_after_steps;
  loop.eval_every = t.eval_every;
  loop.log_every = t.log_every;
  loop.save_every = t.save_every;
  return loop;
}

void report_stopped(int rank, const TrainProgress& progress, const OptimConfig& optim) {
  if (rank == 0)
    std::printf("stopped after step %lld of %lld; run again to resume\n", static_cast<long long>(progress.step),
                static_cast<long long>(optim.steps));
}

}  // namespace lowbit
