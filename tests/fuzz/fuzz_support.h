// Shared by the libFuzzer targets of tests/fuzz: the refusal rule and a scratch folder.
//
// A parser refuses bad input by throwing lowbit::Error naming the file and the field; that is the
// one outcome a target accepts besides success. Anything else ends the run as a finding: another
// exception type escaping (std::terminate), a sanitizer report, a crash, a hang (-timeout), a leak,
// and also a failing LOWBIT_ASSERT, which marks a bug, not bad input (fuzz_support.cpp).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "framework/core/error.h"

namespace lowbit::fuzz {

// Runs `fn`; a lowbit::Error is the intended refusal. (A LOWBIT_ASSERT aborts instead of throwing in
// the fuzz targets: fuzz_support.cpp.)
template <typename Fn>
void refusing(Fn&& fn) {
  try {
    fn();
  } catch (const lowbit::Error&) {
  }
}

// Fails the run (a finding) when `cond` is false: used for properties such as round trips.
inline void require(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// A folder of this process for the files a parser must read from a path: in /dev/shm (memory) when
// there is one, removed at exit. The parsers take paths, not bytes, for safetensors (mmap), HDF5
// shards, JSONL corpora and YAML experiment configs.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm"
                                                                                  : std::filesystem::temp_directory_path();
    std::filesystem::path d = base / ("lowbit-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& path, const void* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  require(out.good(), "writing the scratch file failed");
}
inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  write_file(path, bytes.data(), bytes.size());
}

}  // namespace lowbit::fuzz
