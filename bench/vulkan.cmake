# The Vulkan GEMM benchmark: include() from bench/CMakeLists.txt when KILN_VULKAN is ON (after
# find_package(benchmark)). Both targets are built like the portable H100 binary: -O2, no
# -march=native (kiln_dev_flags is not linked), libstdc++/libgcc static; SPIR-V is embedded and
# the Vulkan loader is opened at run time, so the binary needs no files beside it.
#
# gemm_vulkan:          Google Benchmark output (Debian's libbenchmark is shared only).
# gemm_vulkan_portable: the same measurements with a built-in driver and no libbenchmark,
#                       the binary to carry to another machine (bench/gemm_vulkan_h100.md).
foreach(_kiln_bench gemm_vulkan gemm_vulkan_portable)
  add_executable(${_kiln_bench} ${CMAKE_CURRENT_LIST_DIR}/gemm_vulkan.cpp)
  target_link_libraries(${_kiln_bench} PRIVATE kiln::vulkan)
  target_compile_options(${_kiln_bench} PRIVATE -O2)
  target_link_options(${_kiln_bench} PRIVATE -static-libstdc++ -static-libgcc)
endforeach()
target_link_libraries(gemm_vulkan PRIVATE benchmark::benchmark)
target_compile_definitions(gemm_vulkan_portable PRIVATE KILN_BENCH_STANDALONE)

# models_vulkan: bench/models.cpp's training steps on the Vulkan device, standalone (portable
# like gemm_vulkan_portable); models_torch_cuda.py is PyTorch's side on a CUDA machine.
add_executable(models_vulkan ${CMAKE_CURRENT_LIST_DIR}/models_vulkan.cpp)
target_link_libraries(models_vulkan PRIVATE kiln::vulkan)
target_compile_options(models_vulkan PRIVATE -O2)
target_link_options(models_vulkan PRIVATE -static-libstdc++ -static-libgcc)
