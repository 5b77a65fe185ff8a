// The experiment config of `lowbit quantize CONFIG.yaml [key=value ...]`, read once from YAML (with
// command-line overrides applied to the document first) into typed structs and validated; unknown
// keys and wrong types are errors with file:line. Every rank parses the same file identically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/config/model_ref.h"

namespace lowbit {

struct CalibrationConfig {
  std::string source;             // text, .jsonl or .json.gz
  // stream (WikiText2/PTB: join, tokenize once) | documents (C4: random windows of long documents) |
  // blocks (AWQ: nsamples short documents concatenated and cut into seq_len blocks)
  std::string style = "stream";
  std::string join = "\n\n";      // separator when joining JSONL documents into a stream
  int64_t nsamples = 128;
  int64_t seq_len = 2048;
  uint64_t seed = 0;
};

struct DistributedConfig {
  // auto | cpu | cuda (auto: CUDA when libtorch sees a GPU). Rank r uses GPU local_rank % devices.
  std::string device = "auto";
  // auto | mpi | nccl. auto: NCCL between CUDA ranks that each have their own GPU, else MPI (which
  // stages CUDA tensors through host memory: the fallback when ranks share a GPU).
  std::string backend = "auto";
  // Hidden states between blocks: model (the weights' compute dtype: bf16 on CUDA for LLaMA3, fp32
  // on CPU) | float32.
  std::string activations = "model";
  int64_t micro_batch = 1;                // sequences per forward
  std::string propagation = "quantized";  // quantized | full_precision
  int threads = 0;  // libtorch intra-op threads per rank; 0 = libtorch's default. CPU results are
                    // bitwise identical across world sizes only with the same thread count.
};

struct OutputConfig {
  std::string run_dir;
  bool keep_hessians = false;  // store Hessians in /stats (large: 70B down_proj is 3.3 GB per block)
  // Full-precision propagation: share Hessians between runs of the same model and calibration
  // through this directory (framework/calibrate/statistics_cache.h); "" = off.
  std::string statistics_cache;
};

struct ExperimentConfig {
  std::string source;  // the YAML file
  std::string model_spec;
  ModelRef model;
  std::string method;         // registry name
  std::string method_config;  // the method section as YAML text (names the parameters it was read with)
  CalibrationConfig calibration;
  DistributedConfig distributed;
  OutputConfig output;

  static ExperimentConfig from_yaml(const std::string& path, const std::vector<std::string>& overrides = {});
};

}  // namespace lowbit
