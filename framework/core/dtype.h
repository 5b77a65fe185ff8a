// Element types of stored tensors (safetensors dtypes) and their sizes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace lowbit {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// Bytes per element.
std::size_t dtype_size(DType t);
// The safetensors spelling ("F32", "BF16", ...).
const char* dtype_name(DType t);
// Parses a safetensors spelling; nullopt for anything unknown.
std::optional<DType> dtype_from_name(std::string_view name);
// True for the floating types the model core computes from (F32, F16, BF16).
bool dtype_is_weight_float(DType t);

}  // namespace lowbit
