// What the data-parallel trainers of a frozen base (`lowbit finetune`, `lowbit distill`) share around
// the generic loop: one job per output directory (a lock rank 0 holds), the checkpoint to resume from,
// the spec's data-parallel fields, checkpoints written by rank 0, and the loop's settings.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "framework/core/file_lock.h"
#include "framework/dist/rank_devices.h"
#include "framework/train/adamw.h"
#include "framework/train/trainer.h"
#include "framework/train/training_settings.h"

namespace lowbit {

class Communicator;

struct TrainingOutput {
  std::string dir;
  std::string checkpoint;  // DIR/checkpoint
  std::string resume;      // the checkpoint to resume from, "" for a fresh start
  std::unique_ptr<FileLock> lock;  // rank 0's, for the job
};

// Collective: rank 0 creates `dir` and takes DIR/.lowbit-{command}.lock ("lowbit {command} {source}"
// as holder); every rank finds the checkpoint.
TrainingOutput open_training_output(Communicator& comm, const std::string& dir, const std::string& command,
                                    const std::string& source);

// Sets spec's data-parallel fields for `comm` (a float64 gradient sum over the ranks, so any world
// size takes the same steps; progress printed by rank 0).
void make_data_parallel(TrainSpec& spec, Communicator& comm);

// The checkpoint callback: on rank 0, `write_trained(tmp_dir)` then the optimizer and trainer state
// into out.checkpoint, swapped in atomically. The kill test's fault injection
// (LOWBIT_TEST_KILL_AFTER_STEP=N: SIGKILL right after the checkpoint of step N) lives here.
std::function<void(const TrainProgress&)> checkpoint_saver(const TrainingOutput& out, int rank, const AdamW& optimizer,
                                                          const std::string& fingerprint,
                                                          std::function<void(const std::string& tmp_dir)> write_trained);

// Collective over the MPI world: libtorch's threads as `t` says, then each rank's device and the
// backend between ranks (training.device; errors name `source`).
RankDevices training_devices(const TrainingSettings& t, const std::string& source);

// The generic loop's settings: `optim` (its steps cut to stop_after_steps when that is smaller and > 0)
// and t's progress and checkpoint intervals.
TrainConfig loop_settings(const std::string& source, const OptimConfig& optim, int64_t stop_after_steps,
                          const TrainingSettings& t);

// Rank 0 says where a run stopped short of its steps (the next run resumes there).
void report_stopped(int rank, const TrainProgress& progress, const OptimConfig& optim);

}  // namespace lowbit
