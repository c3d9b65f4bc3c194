// Test plugin that exports no entry point: the loader must refuse it.
#include <attnbench/plugin_abi.h>

extern "C" ATTNBENCH_EXPORT int attnbench_something_else(void) { return 7; }
