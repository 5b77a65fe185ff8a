# Finds every dependency of lowbit. Missing ones are reported with the command that installs them.
set(_lowbit_hint "run launch/setup.sh (it installs every dependency)")

# libtorch from the PyPI torch wheel.
execute_process(
  COMMAND ${LOWBIT_PYTHON} -c "import os, torch, torch.utils; print(torch.utils.cmake_prefix_path); print(os.path.join(os.path.dirname(torch.__file__), '..', 'nvidia', 'nccl')); print(torch.version.cuda or '')"
  OUTPUT_VARIABLE _torch_out RESULT_VARIABLE _torch_rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _torch_rc EQUAL 0)
  message(FATAL_ERROR "lowbit: cannot import torch with ${LOWBIT_PYTHON}; ${_lowbit_hint}")
endif()
string(REPLACE "\n" ";" _torch_out "${_torch_out}")
list(GET _torch_out 0 _torch_prefix)
list(GET _torch_out 1 _torch_nccl_dir)
list(LENGTH _torch_out _n)
set(TORCH_CUDA_VERSION "")
if(_n GREATER 2)
  list(GET _torch_out 2 TORCH_CUDA_VERSION)
endif()
list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")

# CUDA/NCCL parts: decided before find_package(Torch), whose CUDA build needs the toolkit.
find_program(NVCC_EXECUTABLE nvcc HINTS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
# One NCCL per process: libtorch_cuda needs the NCCL of its wheel (nvidia-nccl), newer than the
# toolkit's, and both are libnccl.so.2, so lowbit compiles and links against the wheel's first.
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_torch_nccl_dir}/include /usr/local/cuda/include ENV CUDA_HOME
          PATH_SUFFIXES include NO_DEFAULT_PATH)
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${_torch_nccl_dir}/lib /usr/local/cuda/lib /usr/local/cuda/lib64
             ENV CUDA_HOME PATH_SUFFIXES lib lib64 NO_DEFAULT_PATH)
set(_cuda_possible OFF)
if(TORCH_CUDA_VERSION AND NVCC_EXECUTABLE AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
  set(_cuda_possible ON)
endif()
if(LOWBIT_CUDA STREQUAL "AUTO")
  set(LOWBIT_WITH_CUDA ${_cuda_possible})
elseif(LOWBIT_CUDA)
  if(NOT _cuda_possible)
    message(FATAL_ERROR "lowbit: LOWBIT_CUDA=ON but CUDA is incomplete: torch CUDA '${TORCH_CUDA_VERSION}', "
                        "nvcc '${NVCC_EXECUTABLE}', nccl.h '${NCCL_INCLUDE_DIR}', libnccl '${NCCL_LIBRARY}'")
  endif()
  set(LOWBIT_WITH_CUDA ON)
else()
  set(LOWBIT_WITH_CUDA OFF)
endif()
if(LOWBIT_WITH_CUDA)
  # Likewise one CUDA runtime: the wheel's (libtorch was built against it), found before the toolkit's.
  find_library(TORCH_CUDART_LIBRARY NAMES libcudart.so.13 libcudart.so.12 NAMES_PER_DIR
               HINTS ${_torch_nccl_dir}/../cu13/lib ${_torch_nccl_dir}/../cuda_runtime/lib NO_DEFAULT_PATH)
  if(NOT TORCH_CUDART_LIBRARY)
    set(TORCH_CUDART_LIBRARY CUDA::cudart)
  endif()
  set(CMAKE_CUDA_COMPILER ${NVCC_EXECUTABLE})
  set(CMAKE_CUDA_ARCHITECTURES 90)  # H100/H200
  set(CMAKE_CUDA_STANDARD 17)        # CMake 3.25 knows no CUDA 20 dialect for nvcc
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  # No GPU here: name the architecture instead of letting libtorch's CMake probe for one.
  set(TORCH_CUDA_ARCH_LIST "9.0" CACHE STRING "CUDA architectures for libtorch's CUDA flags")
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # libtorch's CUDA targets link CUDA::cudart, CUDA::nvrtc, ..., which CUDAToolkit points at the
  # toolkit's copies; the wheel ships the same sonames, so one link line would name two
  # libcudart.so.13 and the runtime path is unsatisfiable (CMake warns for every target). Point each
  # such target at the wheel's copy, the one libtorch was built against and loads.
  if(EXISTS "${TORCH_CUDART_LIBRARY}")
    get_filename_component(_wheel_cuda_lib "${TORCH_CUDART_LIBRARY}" DIRECTORY)
    foreach(_lib cudart nvrtc cublas cublasLt cufft curand cusolver cusparse nvJitLink)
      file(GLOB _wheel_copy "${_wheel_cuda_lib}/lib${_lib}.so.[0-9]*")
      if(TARGET CUDA::${_lib} AND _wheel_copy)
        list(GET _wheel_copy 0 _wheel_copy)
        set_target_properties(CUDA::${_lib} PROPERTIES IMPORTED_LOCATION "${_wheel_copy}")
      endif()
    endforeach()
    # libtorch's cuda.cmake links nvrtc by the path in this cache entry (set only if unset).
    file(GLOB _wheel_nvrtc "${_wheel_cuda_lib}/libnvrtc.so.[0-9]*")
    if(_wheel_nvrtc)
      list(GET _wheel_nvrtc 0 _wheel_nvrtc)
      set(CUDA_NVRTC_LIB "${_wheel_nvrtc}" CACHE FILEPATH "libnvrtc: the torch wheel's copy" FORCE)
    endif()
  endif()
endif()

# libtorch's CMake takes its architectures from TORCH_CUDA_ARCH_LIST and warns about this one.
set(_lowbit_cuda_arch ${CMAKE_CUDA_ARCHITECTURES})
unset(CMAKE_CUDA_ARCHITECTURES)
find_package(Torch REQUIRED)
set(CMAKE_CUDA_ARCHITECTURES ${_lowbit_cuda_arch})
# libtorch's flags (-D_GLIBCXX_USE_CXX11_ABI=...) travel with the torch target; its CUDA flags must
# not leak into plain C++ files.
find_package(MPI REQUIRED COMPONENTS C)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
if(LOWBIT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(LOWBIT_BUILD_BENCHMARKS)
  find_package(benchmark QUIET)
endif()
