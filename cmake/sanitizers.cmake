# Sanitizer and fuzzing builds (docs/reliability.md, "Fuzzing and sanitizers"); launch/test.sh builds
# one clang directory with both, so the sanitized tests and the fuzz targets share one lowbit_core.
#   LOWBIT_SANITIZE=ON  every target with ASan + UBSan; any report ends the process
#                       (-fno-sanitize-recover=all), so a test or fuzz run that hits one fails.
#   LOWBIT_FUZZ=ON      clang only; implies LOWBIT_SANITIZE, adds libFuzzer's coverage
#                       instrumentation (-fsanitize=fuzzer-no-link) to everything and builds the
#                       fuzz targets of tests/fuzz (linked with -fsanitize=fuzzer).
# libtorch, HDF5, yaml-cpp and OpenMPI are not instrumented: ASan still sees their heap (malloc is
# intercepted process-wide), but not their out-of-bounds accesses inside their own code.
option(LOWBIT_SANITIZE "Build everything with AddressSanitizer + UndefinedBehaviorSanitizer" OFF)
option(LOWBIT_FUZZ "Build the libFuzzer targets of tests/fuzz (clang; implies LOWBIT_SANITIZE)" OFF)

if(LOWBIT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "lowbit: LOWBIT_FUZZ=ON needs clang (libFuzzer), got ${CMAKE_CXX_COMPILER_ID}; "
                        "configure with CC=clang CXX=clang++ (launch/setup.sh installs them)")
  endif()
  set(LOWBIT_SANITIZE ON)
endif()

if(LOWBIT_SANITIZE)
  # -O1 keeps the tests fast enough while leaving stacks readable; asserts stay on (-UNDEBUG after
  # the build type's -DNDEBUG), so library assertions such as nlohmann::json's fire instead of
  # turning into undefined behaviour.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
                      -O1 -gline-tables-only -UNDEBUG)
  add_link_options(-fsanitize=address,undefined)
endif()
if(LOWBIT_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(LOWBIT_SANITIZE AND NOT LOWBIT_WITH_CUDA AND TORCH_CUDA_VERSION AND EXISTS "${_torch_nccl_dir}/lib")
  # A CUDA torch wheel on a machine with an older CUDA toolkit, CUDA parts off: libtorch_cuda needs
  # the wheel's NCCL, which the toolkit's directory (in the runtime path through libtorch's CUDA
  # targets) would shadow at link time (dependencies.cmake does the same when the CUDA parts are on).
  add_link_options("LINKER:-rpath,${_torch_nccl_dir}/lib" "LINKER:-rpath-link,${_torch_nccl_dir}/lib")
endif()
