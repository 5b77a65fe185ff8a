// Writes a safetensors file (the format SafetensorsFile reads) atomically: the data go to a
// temporary file beside the target, which is renamed over it only when complete.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "framework/core/dtype.h"

namespace lowbit {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // numel(shape) * dtype_size(dtype) bytes, row-major
  // Alternatively, called when the tensor's turn comes to fill `bytes` (already sized): lets a
  // writer produce huge models one tensor at a time.
  std::function<void(std::string& bytes)> produce = {};
};

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace lowbit
