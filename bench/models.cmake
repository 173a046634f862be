# bench_models: one training step of an MLP and the chapter-001 CNN, kiln beside libtorch
# (bench/models.cpp). include() from bench/CMakeLists.txt after find_package(benchmark).
# Needs libtorch's C++ API (Debian: libtorch-dev) and OpenBLAS (libtorch's BLAS, whose pool is
# sized by hand); without them the target is skipped with a warning, the other benchmarks stay.
find_path(KILN_TORCH_API_INCLUDE_DIR torch/torch.h PATH_SUFFIXES torch/csrc/api/include)
find_library(KILN_TORCH_LIBRARY torch)
find_library(KILN_TORCH_CPU_LIBRARY torch_cpu)
find_library(KILN_C10_LIBRARY c10)
find_library(KILN_MODELS_OPENBLAS_LIBRARY NAMES openblas)
if(NOT KILN_TORCH_API_INCLUDE_DIR OR NOT KILN_TORCH_LIBRARY OR NOT KILN_TORCH_CPU_LIBRARY OR NOT KILN_C10_LIBRARY
   OR NOT KILN_MODELS_OPENBLAS_LIBRARY)
  message(WARNING "bench_models skipped: it needs libtorch (Debian: libtorch-dev) and OpenBLAS")
  return()
endif()

add_executable(bench_models ${CMAKE_CURRENT_LIST_DIR}/models.cpp)
# libtorch's headers: the C++ API directory as a system directory (no warnings from it), and
# the ABI Debian's libtorch was built with.
target_include_directories(bench_models SYSTEM PRIVATE ${KILN_TORCH_API_INCLUDE_DIR})
target_compile_definitions(bench_models PRIVATE _GLIBCXX_USE_CXX11_ABI=1)
# -ltorch alone leaves at:: symbols undefined: torch_cpu and c10 are named too.
target_link_libraries(bench_models PRIVATE kiln::kiln kiln_dev_flags benchmark::benchmark ${KILN_TORCH_LIBRARY}
                                           ${KILN_TORCH_CPU_LIBRARY} ${KILN_C10_LIBRARY} ${KILN_MODELS_OPENBLAS_LIBRARY})
# Benchmarks are optimised for the build machine whatever the build type (kiln_dev_flags adds
# -march=native when KILN_NATIVE is ON).
target_compile_options(bench_models PRIVATE -O3)
