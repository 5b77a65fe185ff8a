#include "framework/model/fingerprint.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>

#include "framework/core/files.h"
#include "framework/core/error.h"
#include "framework/model/safetensors.h"
#include "framework/model/weight_digests.h"

namespace lowbit {

void Fnv1a::add(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 0x100000001b3ULL;
}

std::string Fnv1a::hex() const { return fmt::format("{:016x}", h_); }

std::string model_fingerprint(const std::string& model_dir) {
  return model_fingerprint(model_dir, weight_digests(model_dir));
}

std::string model_fingerprint(const std::string& model_dir, const std::map<std::string, std::string>& digests) {
  Fnv1a f;
  f.add(read_file((std::filesystem::path(model_dir) / "config.json").string()));
  SafetensorsModel model(model_dir);
  for (const std::string& name : model.names()) {
    const TensorInfo& t = model.info(name);
    f.add(name);
    f.add(dtype_name(t.dtype));
    for (int64_t d : t.shape) f.add(&d, sizeof d);
    const auto it = digests.find(name);
    LOWBIT_ASSERT(it != digests.end(), "no weight digest for ", name);
    f.add(it->second);
  }
  return f.hex();
}

std::string calibration_fingerprint(const at::Tensor& ids, const std::string& settings) {
  Fnv1a f;
  f.add(settings);
  const at::Tensor c = ids.to(at::kLong).contiguous();
  for (int64_t d : c.sizes()) f.add(&d, sizeof d);
  f.add(c.data_ptr(), static_cast<std::size_t>(c.numel()) * sizeof(int64_t));
  return f.hex();
}

}  // namespace lowbit
