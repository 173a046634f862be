# kiln's Vulkan device: include() from the top-level CMakeLists.txt (after the `kiln` target
# exists) when KILN_VULKAN is ON.
#
# kiln::vulkan is header-only like kiln::kiln. The runtime opens the Vulkan loader with dlopen
# at run time (so a program starts, and reports "[vulkan] no Vulkan device found ..." through
# kiln::fail, on a machine without libvulkan.so.1), so the target links the Vulkan headers and
# libdl, not libvulkan itself. find_package still requires the loader's development files and
# glslc, which regenerates the committed SPIR-V headers.
find_package(Vulkan REQUIRED COMPONENTS glslc)

add_library(kiln_vulkan INTERFACE)
add_library(kiln::vulkan ALIAS kiln_vulkan)
target_link_libraries(kiln_vulkan INTERFACE kiln Vulkan::Headers ${CMAKE_DL_LIBS})

get_filename_component(KILN_VULKAN_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/../include/kiln/device/vulkan" ABSOLUTE)
set(KILN_VULKAN_SHADER_DIR "${KILN_VULKAN_SOURCE_DIR}/shaders")
set(KILN_VULKAN_SPIRV_DIR "${KILN_VULKAN_SOURCE_DIR}/spirv")
set(KILN_SPIRV_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/spirv_to_header.cmake")
set(KILN_GLSLC "${Vulkan_GLSLC_EXECUTABLE}")

# `cmake --build <dir> --target kiln_spirv` rewrites include/kiln/device/vulkan/spirv/*.hpp from
# shaders/*.comp. The headers are committed (plain -I include users need no glslc), so this is
# run by hand after editing a shader; the test vulkan.spirv_in_sync catches a forgotten run.
file(GLOB KILN_VULKAN_SHADERS CONFIGURE_DEPENDS "${KILN_VULKAN_SHADER_DIR}/*.comp")
add_custom_target(kiln_spirv
  COMMAND ${CMAKE_COMMAND} -DMODE=generate -DGLSLC=${KILN_GLSLC} -DSHADER_DIR=${KILN_VULKAN_SHADER_DIR}
          -DHEADER_DIR=${KILN_VULKAN_SPIRV_DIR} -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/kiln_spirv
          -P ${KILN_SPIRV_SCRIPT}
  COMMENT "Regenerating kiln's SPIR-V headers with ${KILN_GLSLC}"
  SOURCES ${KILN_VULKAN_SHADERS}
  VERBATIM)
