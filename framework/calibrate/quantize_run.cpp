#include "framework/calibrate/quantize_run.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "framework/calibrate/layer_loop.h"
#include "framework/calibrate/statistics_cache.h"
#include "framework/config/yaml_reader.h"
#include "framework/core/error.h"
#include "framework/core/file_lock.h"
#include "framework/core/files.h"
#include "framework/data/calibration.h"
#include "framework/dist/communicator.h"
#include "framework/dist/hidden_stream.h"
#include "framework/dist/partition_plan.h"
#include "framework/dist/rank_devices.h"
#include "framework/core/device.h"
#include "framework/data/text_corpus.h"
#include "framework/model/fingerprint.h"
#include "framework/model/weight_digests.h"
#include "framework/model/llama_forward.h"
#include "framework/model/tokenizer.h"
#include "framework/store/run_manifest.h"
#include "framework/store/shard.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

CalibrationSet build_calibration(const ExperimentConfig& cfg, const Tokenizer& tok) {
  const CalibrationConfig& k = cfg.calibration;
  LOWBIT_CHECK(fs::exists(k.source), cfg.source, ": key 'calibration.source': ", k.source, " does not exist");
  if (k.style == "stream")
    return sample_stream_windows(tok.encode(read_corpus_text(k.source, k.join)), k.nsamples, k.seq_len, k.seed,
                                 k.source);
  const std::vector<std::string> docs = read_documents(k.source, k.join);
  if (k.style == "blocks") return sample_document_blocks(docs, tok, k.nsamples, k.seq_len, k.seed, k.source);
  return sample_document_windows(docs, tok, k.nsamples, k.seq_len, k.seed, k.source);
}

}  // namespace

QuantizeResult quantize_run(const ExperimentConfig& cfg, int64_t stop_after_block) {
  Communicator& mpi = world();
  const int rank = mpi.rank(), size = mpi.size();
  const auto start = std::chrono::steady_clock::now();
  const fs::path run(cfg.output.run_dir);

  // Set-up, in collective steps: an error on any rank is reported once and every rank stops.
  std::unique_ptr<Method> method;
  PartitionPlan plan;
  CalibrationSet calib;  // rank 0 only: identical for every world size
  std::string calib_fp;
  collective_step(mpi, [&] {
    if (cfg.distributed.threads > 0) at::set_num_threads(cfg.distributed.threads);
  });
  // Each rank's device, and the backend between them (NCCL between GPUs with a rank each).
  const RankDevices devices = setup_rank_devices(mpi, cfg.distributed.device, cfg.distributed.backend,
                                                 cfg.source + ": key 'distributed.device'",
                                                 cfg.source + ": key 'distributed.backend'");
  Communicator& comm = devices.pipeline(mpi);
  ComputeDtypes dtypes;
  collective_step(comm, [&] {
    LOWBIT_CHECK(cfg.model.has_weights, cfg.source, ": key 'model': ", cfg.model_spec, " has no weights at its path (",
                 cfg.model.path, "); quantize needs config.json and safetensors there");
    dtypes = compute_dtypes(devices.device, cfg.model.config, cfg.distributed.activations);
    // Everything that can be checked from the config and the model's shapes is checked before the
    // run directory is created: a failed set-up leaves nothing behind.
    YamlSection method_params = load_yaml_text(cfg.method_config, cfg.source + " (method)");
    method_params.get<std::string>("name");
    method = MethodRegistry::builtin().get(cfg.method).create(method_params);
    method->check_model(cfg.model.config, cfg.source);
    const MethodNeeds needs = method->needs();
    LOWBIT_CHECK(needs.propagation.empty() || needs.propagation == cfg.distributed.propagation, cfg.source,
                 ": key 'distributed.propagation' is '", cfg.distributed.propagation, "', but method '", cfg.method,
                 "' requires '", needs.propagation, "': ", needs.propagation_reason);
    PlanSettings plan_settings;
    plan_settings.ranks = size;
    plan = make_partition_plan(cfg.model.config, plan_settings);
    if (rank == 0) {
      const Tokenizer tok = Tokenizer::from_file((fs::path(cfg.model.path) / "tokenizer.json").string());
      calib = build_calibration(cfg, tok);
      calib_fp = calibration_fingerprint(
          calib.ids, fmt::format("{} {} {} {} {} {} propagation={} compute={}/{}", cfg.calibration.source,
                                 cfg.calibration.style, cfg.calibration.nsamples, cfg.calibration.seq_len,
                                 cfg.calibration.seed, cfg.distributed.micro_batch, cfg.distributed.propagation,
                                 float_dtype_name(dtypes.weights), float_dtype_name(dtypes.activations)));
    }
  });
  calib_fp = comm.broadcast(calib_fp, 0);
  const RankPlan& mine = plan.ranks[rank];

  LlamaWeights w;
  ShardHeader header;
  WeightDigests digests;
  std::unique_ptr<ShardWriter> shard_writer;
  const std::string shard_name = shard_file_name(rank, size);
  const std::string shard_path = (run / "shards" / shard_name).string();
  // The weight digests: read once on rank 0 (the whole model, the first time; cached after) and
  // sent to the others, rather than every rank reading every weight.
  std::string digests_json;
  collective_step(comm, [&] {
    if (rank == 0) digests_json = nlohmann::json(weight_digests(cfg.model.path)).dump();
  });
  digests_json = comm.broadcast(digests_json, 0);
  collective_step(comm, [&] {
    LoadOptions load;
    load.first_block = mine.first_block;
    load.end_block = mine.end_block;
    load.embedding = mine.embedding;
    load.head = false;  // quantization needs the embedding and the blocks; the head is untouched
    load.dtype = dtypes.weights;
    load.device = devices.device;  // straight from the mapping to the device, tensor by tensor
    w = load_llama(cfg.model.path, load);
    header.method = cfg.method;
    header.method_config = cfg.method_config;
    digests = nlohmann::json::parse(digests_json).get<WeightDigests>();
    header.model_fingerprint = model_fingerprint(cfg.model.path, digests);
    header.model_tensors = digests_json;
    header.calibration_fingerprint = calib_fp;
    header.rank = rank;
    header.world_size = size;
    header.first_block = mine.first_block;
    header.end_block = mine.end_block;
    header.build_version = LOWBIT_VERSION;
  });
  // Only now is anything created: the run directory, its lock (one quantize per run directory;
  // rank 0 holds it for the job), then each rank's shard.
  std::unique_ptr<FileLock> lock;
  collective_step(comm, [&] {
    if (rank != 0) return;
    fs::create_directories(run);
    lock = std::make_unique<FileLock>((run / ".lowbit-quantize.lock").string(), "lowbit quantize " + cfg.source);
  });
  collective_step(comm, [&] {
    fs::create_directories(run / "shards");  // a rank on a host that does not share rank 0's view
    shard_writer = std::make_unique<ShardWriter>(shard_path, header);  // refuses another run's shard
  });
  ShardWriter& shard = *shard_writer;

  at::Tensor hidden;
  if (rank == 0) {
    c10::InferenceMode guard;
    hidden = embed(w, calib.ids).to(dtypes.activations);  // [N, L, hidden] on the device
    w.embedding = at::Tensor();  // not needed again: quantization never reads it twice
    calib = CalibrationSet();
    std::printf("quantize: %s, method %s, %lld blocks on %d rank%s, calibration %lld x %lld (%s), propagation %s -> %s\n"
                "%sdtypes: weights %s, activations %s, statistics and solvers float32\n",
                cfg.model.name.c_str(), cfg.method.c_str(), static_cast<long long>(cfg.model.config.num_hidden_layers),
                size, size > 1 ? "s" : "", static_cast<long long>(hidden.size(0)),
                static_cast<long long>(cfg.calibration.seq_len), cfg.calibration.source.c_str(),
                cfg.distributed.propagation.c_str(), cfg.output.run_dir.c_str(), devices.banner().c_str(),
                float_dtype_name(dtypes.weights).c_str(), float_dtype_name(dtypes.activations).c_str());
    std::fflush(stdout);
  } else {
    hidden = receive_hidden(comm, rank - 1);  // the previous rank's outputs
  }
  QuantizeResult result;
  result.run_dir = cfg.output.run_dir;
  LayerLoopOptions opt;
  opt.quantized_propagation = cfg.distributed.propagation == "quantized";
  opt.micro_batch = cfg.distributed.micro_batch;
  opt.keep_hessians = cfg.output.keep_hessians;
  const StatisticsCache cache(cfg.output.statistics_cache, header.model_fingerprint, calib_fp);
  opt.statistics_cache = &cache;
  const int64_t n_blocks = cfg.model.config.num_hidden_layers;
  double computed_seconds = 0;
  // Full-precision propagation: the next rank's inputs do not depend on this rank's quantization,
  // so run the original blocks once and pass the activations on before calibrating: all ranks then
  // calibrate concurrently (the layer loop recomputes the same activations block by block).
  const bool run_ahead = !opt.quantized_propagation && rank + 1 < size && stop_after_block < 0;
  std::unique_ptr<HiddenStreamSender> to_next;
  if (rank + 1 < size) to_next = std::make_unique<HiddenStreamSender>(comm, rank + 1, hidden.size(0));
  const std::function<void(const at::Tensor&)> stream_out = [&](const at::Tensor& chunk) { to_next->push(chunk); };
  if (run_ahead) {
    c10::InferenceMode guard;
    const RopeTables rope = rope_tables(w.config, hidden.size(1), hidden.scalar_type(), hidden.device());
    at::Tensor ahead = hidden;
    for (std::size_t i = 0; i < w.blocks.size(); ++i)
      ahead = forward_block(w.blocks[i], w.config, ahead, rope, opt.micro_batch, nullptr,
                            i + 1 == w.blocks.size() ? stream_out : std::function<void(const at::Tensor&)>());
  } else if (to_next) {
    opt.on_output_chunk = stream_out;  // the quantized blocks' outputs, streamed as computed
  }
  hidden = run_layer_loop(
      w, std::move(hidden), *method, shard, shard_path, opt,
      [&](const BlockReport& r) {
        (r.resumed ? result.blocks_resumed : result.blocks_computed)++;
        if (!r.resumed) computed_seconds += r.seconds;
        const int64_t left = mine.end_block - 1 - r.block;
        const double eta = result.blocks_computed ? computed_seconds / result.blocks_computed * left : 0;
        std::printf("%sblock %lld/%lld  %s  %s %.2f s  ETA %.0f s\n",
                    size > 1 ? fmt::format("[rank {}] ", rank).c_str() : "", static_cast<long long>(r.block + 1),
                    static_cast<long long>(n_blocks), cfg.method.c_str(), r.resumed ? "resumed from shard" : "quantized in",
                    r.seconds, eta);
        std::fflush(stdout);
      },
      stop_after_block);
  if (stop_after_block >= 0 && stop_after_block < mine.end_block - 1) return result;

  const nlohmann::json mine_json = {{"file", "shards/" + shard_name}, {"rank", rank}, {"first_block", mine.first_block},
                                    {"end_block", mine.end_block}, {"blocks_computed", result.blocks_computed},
                                    {"blocks_resumed", result.blocks_resumed}};
  const std::vector<std::string> all = comm.gather(mine_json.dump());
  if (rank != 0) return result;
  nlohmann::json shards = nlohmann::json::array();
  for (const std::string& s : all) shards.push_back(nlohmann::json::parse(s));
  nlohmann::json manifest = {
      {"format", "lowbit-run"},
      {"version", kManifestVersion},
      {"model", {{"name", cfg.model.name}, {"path", fs::absolute(cfg.model.path).lexically_normal().string()}, {"fingerprint", header.model_fingerprint}, {"tensors", digests}}},
      {"method", cfg.method},
      {"method_config", cfg.method_config},
      {"calibration", {{"source", cfg.calibration.source}, {"style", cfg.calibration.style},
                       {"nsamples", cfg.calibration.nsamples}, {"seq_len", cfg.calibration.seq_len},
                       {"seed", cfg.calibration.seed}, {"fingerprint", calib_fp}}},
      {"propagation", cfg.distributed.propagation},
      {"compute", {{"device", devices.device.is_cuda() ? "cuda" : "cpu"}, {"backend", devices.backend},
                   {"weights", float_dtype_name(dtypes.weights)}, {"activations", float_dtype_name(dtypes.activations)}}},
      {"world_size", size},
      {"num_blocks", n_blocks},
      {"shards", shards},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
      {"lowbit_version", LOWBIT_VERSION}};
  result.manifest = (run / "manifest.json").string();
  write_file_atomic(result.manifest, manifest.dump(2) + "\n");
  std::printf("done: %s (%d shard%s)\n", result.manifest.c_str(), size, size > 1 ? "s" : "");
  return result;
}

}  // namespace lowbit
