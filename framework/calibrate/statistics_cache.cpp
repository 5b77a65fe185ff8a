#include "framework/calibrate/statistics_cache.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>

#include "framework/core/error.h"
#include "framework/model/safetensors.h"
#include "framework/model/safetensors_writer.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {
LinearInput input_at(int k) { return static_cast<LinearInput>(k); }
}  // namespace

StatisticsCache::StatisticsCache(const std::string& dir, const std::string& model_fp, const std::string& calib_fp)
    : dir_(dir.empty() ? "" : (fs::path(dir) / (model_fp + "-" + calib_fp)).string()),
      model_fp_(model_fp),
      calib_fp_(calib_fp) {}

std::string StatisticsCache::file(int64_t block) const {
  return (fs::path(dir_) / fmt::format("block-{:05d}.safetensors", block)).string();
}

std::optional<BlockStatistics> StatisticsCache::load(int64_t block, const std::vector<Statistic>& kinds) const {
  if (!enabled() || !fs::exists(file(block))) return std::nullopt;
  const SafetensorsFile f(file(block));
  const auto& meta = f.metadata();
  auto value = [&](const char* k) { return meta.count(k) ? meta.at(k) : std::string(); };
  LOWBIT_CHECK(value("model_fingerprint") == model_fp_ && value("calibration_fingerprint") == calib_fp_, f.path(),
               ": statistics of another model or calibration set (metadata fingerprints differ)");
  // The kinds the file holds are recorded in its metadata; a file without one asked for is a miss
  // (the run gathers them and rewrites the file with both).
  const std::string held = "," + value("statistics") + ",";
  for (Statistic k : kinds)
    if (held.find(std::string(",") + statistic_name(k) + ",") == std::string::npos) return std::nullopt;
  BlockStatistics s;
  s.sequences = std::stoll(value("sequences").empty() ? "0" : value("sequences"));
  for (Statistic kind : all_statistics())
    for (int k = 0; k < 4; ++k) {
      const std::string name = std::string(linear_input_name(input_at(k))) + "/" + statistic_name(kind);
      if (!f.contains(name)) continue;
      const TensorView v = f.view(name);
      LOWBIT_CHECK(v.info->dtype == DType::F32, f.path(), ": ", name, " is not F32");
      s.of(kind)[k] = at::from_blob(const_cast<std::byte*>(v.data), v.info->shape, at::kFloat).clone();
      LOWBIT_CHECK(s.of(kind)[k].isfinite().all().item<bool>(), f.path(), ": block ", block, ": the ",
                   kind == Statistic::Hessian ? "Hessian" : statistic_name(kind), " of the '",
                   linear_input_name(input_at(k)), "' input is not finite: delete the file (the next run recomputes it)");
    }
  return s;
}

void StatisticsCache::store(int64_t block, const BlockStatistics& fresh) const {
  if (!enabled()) return;
  fs::create_directories(dir_);
  // What the file already holds of other kinds is kept beside the fresh statistics.
  BlockStatistics s = fresh;
  if (fs::exists(file(block)))
    if (std::optional<BlockStatistics> old = load(block, {})) {
      for (Statistic kind : all_statistics())
        for (int k = 0; k < 4; ++k)
          if (!s.of(kind)[k].defined()) s.of(kind)[k] = old->of(kind)[k];
    }
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  std::string kinds;
  for (Statistic kind : all_statistics()) {
    bool any = false;
    for (int k = 0; k < 4; ++k) {
      const at::Tensor& t = s.of(kind)[k];
      if (!t.defined()) continue;
      any = true;
      keep.push_back(t.to(at::kCPU, at::kFloat).contiguous());  // written from host memory
      tensors.push_back({std::string(linear_input_name(input_at(k))) + "/" + statistic_name(kind), DType::F32,
                         std::vector<int64_t>(keep.back().sizes().begin(), keep.back().sizes().end()),
                         keep.back().data_ptr()});
    }
    if (any) kinds += (kinds.empty() ? "" : ",") + std::string(statistic_name(kind));
  }
  write_safetensors(file(block), tensors,
                    {{"model_fingerprint", model_fp_},
                     {"calibration_fingerprint", calib_fp_},
                     {"statistics", kinds},
                     {"sequences", std::to_string(s.sequences)}});
}

}  // namespace lowbit
