# attnbench_add_plugin(NAME <backend> SOURCES ...): a MODULE library named
# libattnbench-backend-<backend>.so placed where the harness loader finds it.
# Used in-tree and by out-of-tree plugins through find_package(attnbench).
function(attnbench_add_plugin)
  cmake_parse_arguments(P "" "NAME;OUTPUT_DIR" "SOURCES" ${ARGN})
  set(target attnbench-backend-${P_NAME})
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(P_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR})
  elseif(ATTNBENCH_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ATTNBENCH_PLUGIN_OUTPUT_DIR})
  endif()
  if(TARGET attnbench::sdk)
    target_link_libraries(${target} PRIVATE attnbench::sdk)
  endif()
endfunction()
