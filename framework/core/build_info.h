// What this build of lowbit contains and what the machine offers (for `lowbit info`).
#pragma once

#include <string>

namespace lowbit {

// Multi-line description: version, libtorch, CUDA/NCCL parts compiled or not, devices, threads.
std::string build_info();

}  // namespace lowbit
