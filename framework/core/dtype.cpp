#include "framework/core/dtype.h"

#include <array>
#include <utility>

namespace lowbit {
namespace {
struct DTypeRow {
  DType type;
  const char* name;
  std::size_t size;
};
constexpr std::array<DTypeRow, 10> kDTypes{{
    {DType::F64, "F64", 8},
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
}};
const DTypeRow& row(DType t) { return kDTypes[static_cast<std::size_t>(t)]; }
}  // namespace

std::size_t dtype_size(DType t) { return row(t).size; }
const char* dtype_name(DType t) { return row(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& r : kDTypes)
    if (name == r.name) return r.type;
  return std::nullopt;
}

bool dtype_is_weight_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace lowbit
