// XXH64 (the xxHash 64-bit algorithm, written from its published specification): a fast
// non-cryptographic digest of bytes, used to fingerprint model weights at memory speed. It detects
// accidental change (another checkpoint, a flipped byte), not a deliberate forgery.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lowbit {

uint64_t xxhash64(const void* data, std::size_t n, uint64_t seed = 0);
std::string xxhash64_hex(const void* data, std::size_t n);  // 16 lower-case hex digits

}  // namespace lowbit
