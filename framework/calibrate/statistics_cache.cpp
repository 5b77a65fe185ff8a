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
const char* const kInputs[4] = {"attention", "attention_output", "mlp", "mlp_down"};
}

StatisticsCache::StatisticsCache(const std::string& dir, const std::string& model_fp, const std::string& calib_fp)
    : dir_(dir.empty() ? "" : (fs::path(dir) / (model_fp + "-" + calib_fp)).string()),
      model_fp_(model_fp),
      calib_fp_(calib_fp) {}

std::string StatisticsCache::file(int64_t block) const {
  return (fs::path(dir_) / fmt::format("block-{:05d}.safetensors", block)).string();
}

std::optional<BlockStatistics> StatisticsCache::load(int64_t block) const {
  if (!enabled() || !fs::exists(file(block))) return std::nullopt;
  const SafetensorsFile f(file(block));
  const auto& meta = f.metadata();
  auto value = [&](const char* k) { return meta.count(k) ? meta.at(k) : std::string(); };
  LOWBIT_CHECK(value("model_fingerprint") == model_fp_ && value("calibration_fingerprint") == calib_fp_, f.path(),
               ": statistics of another model or calibration set (metadata fingerprints differ)");
  BlockStatistics s;
  s.sequences = std::stoll(value("sequences").empty() ? "0" : value("sequences"));
  for (int k = 0; k < 4; ++k) {
    const std::string name = std::string(kInputs[k]) + "/hessian";
    if (!f.contains(name)) continue;
    const TensorView v = f.view(name);
    LOWBIT_CHECK(v.info->dtype == DType::F32, f.path(), ": ", name, " is not F32");
    s.hessian[k] = at::from_blob(const_cast<std::byte*>(v.data), v.info->shape, at::kFloat).clone();
  }
  return s;
}

void StatisticsCache::store(int64_t block, const BlockStatistics& s) const {
  if (!enabled()) return;
  fs::create_directories(dir_);
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (int k = 0; k < 4; ++k) {
    if (!s.hessian[k].defined()) continue;
    keep.push_back(s.hessian[k].to(at::kCPU, at::kFloat).contiguous());  // written from host memory
    tensors.push_back({std::string(kInputs[k]) + "/hessian", DType::F32,
                       std::vector<int64_t>(keep.back().sizes().begin(), keep.back().sizes().end()),
                       keep.back().data_ptr()});
  }
  write_safetensors(file(block), tensors,
                    {{"model_fingerprint", model_fp_},
                     {"calibration_fingerprint", calib_fp_},
                     {"sequences", std::to_string(s.sequences)}});
}

}  // namespace lowbit
