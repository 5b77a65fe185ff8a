// Byte sizes for people: "80GiB" <-> 85899345920, and 1.5 GiB back as text.
#pragma once

#include <cstdint>
#include <string>

namespace lowbit {

// "80GiB", "40GB", "512MiB", "1024" (bytes); throws naming `what` for anything else.
uint64_t parse_bytes(const std::string& text, const std::string& what);
// "15.64 GiB", "340.50 KiB", ...
std::string human_bytes(double bytes);

}  // namespace lowbit
