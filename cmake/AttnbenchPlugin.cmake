# attnbench_add_plugin(NAME <backend> SOURCES ... [OUTPUT_DIR dir] [INSTALL]): a MODULE
# library named libattnbench-backend-<backend>.so placed where the harness loader finds it.
# attnbench_add_method_plugin(NAME <name> SOURCES ... [OUTPUT_DIR dir] [INSTALL]): the same
# for a KV-method plugin, libattnbench-method-<name>.so (kv_method_abi.h).
# Used in-tree and by out-of-tree plugins through find_package(attnbench).
# INSTALL: `cmake --install` puts it in <prefix>/${ATTNBENCH_PLUGIN_INSTALL_DIR}
# (lib/attnbench/plugins), where an attnbench installed in <prefix>/bin looks for plugins.
# The path is fixed (not CMAKE_INSTALL_LIBDIR) because the loader finds it relative to
# the executable.
set(ATTNBENCH_PLUGIN_INSTALL_DIR lib/attnbench/plugins)

# The MODULE library `target` from SOURCES, hidden symbols but the entry point, placed in
# OUTPUT_DIR (else ATTNBENCH_PLUGIN_OUTPUT_DIR) and installed when INSTALL is given.
function(_attnbench_plugin_library target)
  cmake_parse_arguments(P "INSTALL" "OUTPUT_DIR" "SOURCES" ${ARGN})
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
  if(P_INSTALL)
    # OPTIONAL: a tree built only in part (e.g. just the CPU plugin) still installs.
    install(TARGETS ${target} OPTIONAL LIBRARY DESTINATION ${ATTNBENCH_PLUGIN_INSTALL_DIR})
  endif()
endfunction()

function(attnbench_add_plugin)
  cmake_parse_arguments(P "" "NAME" "" ${ARGN})
  _attnbench_plugin_library(attnbench-backend-${P_NAME} ${P_UNPARSED_ARGUMENTS})
endfunction()

function(attnbench_add_method_plugin)
  cmake_parse_arguments(P "" "NAME" "" ${ARGN})
  _attnbench_plugin_library(attnbench-method-${P_NAME} ${P_UNPARSED_ARGUMENTS})
endfunction()
