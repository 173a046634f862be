# Proves vulkan.spirv_in_sync can fail: copies the committed headers, alters one, and expects
# spirv_to_header.cmake in check mode to reject the copy, naming the altered header.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/headers")
file(GLOB headers "${HEADER_DIR}/*.hpp")
file(COPY ${headers} DESTINATION "${WORK_DIR}/headers")
file(APPEND "${WORK_DIR}/headers/fill.hpp" "// edited by hand\n")
execute_process(
  COMMAND ${CMAKE_COMMAND} -DMODE=check -DGLSLC=${GLSLC} -DSHADER_DIR=${SHADER_DIR} -DHEADER_DIR=${WORK_DIR}/headers
          -DWORK_DIR=${WORK_DIR}/tmp -P ${SCRIPT}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "the SPIR-V check accepted an altered header")
endif()
if(NOT err MATCHES "out of date with their shaders: fill.hpp")
  message(FATAL_ERROR "the SPIR-V check failed for another reason:\n${out}${err}")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
message(STATUS "stale header detected as expected")
