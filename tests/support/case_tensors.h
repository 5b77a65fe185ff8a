// Reading the expected values the tests/reference scripts write (safetensors): a tensor by name,
// copied out of the mapping, in the dtype it was stored in.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "framework/core/error.h"
#include "framework/model/safetensors.h"

namespace lowbit::test {

inline at::Tensor case_tensor(const SafetensorsFile& f, const std::string& name) {
  const TensorView v = f.view(name);
  at::ScalarType t = at::kFloat;
  switch (v.info->dtype) {
    case DType::F32: t = at::kFloat; break;
    case DType::F64: t = at::kDouble; break;
    case DType::I64: t = at::kLong; break;
    case DType::I8: t = at::kChar; break;
    case DType::U8: t = at::kByte; break;
    default: LOWBIT_FAIL(f.path(), ": tensor '", name, "' has a dtype the case reader does not take");
  }
  return at::from_blob(const_cast<std::byte*>(v.data), v.info->shape, t).clone();
}

}  // namespace lowbit::test
