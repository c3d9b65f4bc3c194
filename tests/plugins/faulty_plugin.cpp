// Test-only backends that fail the way kernels under development do, on one shape
// only (len_k == ATTNBENCH_TEST_FAULT_LEN, default 128), so a run over them must store
// that case as crashed or timeout and every other case as ok. Built four times, as
// backends "segv", "hang", "abort" and "exit" (FAULTY_KIND picks the failure):
//   segv   writes through a null pointer inside run_attention
//   hang   sleeps forever inside run_attention
//   abort  calls abort()
//   exit   calls exit(7) in the middle of the run
// Everything else is the template backend (naive fp32), reused under another entry
// name as the slow test plugin does.
#define attnbench_plugin_entry attnbench_template_plugin_entry
#include "../../backends/template/template_plugin.cpp"
#undef attnbench_plugin_entry

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace faulty {

enum class Kind { segv, hang, abort_call, exit_call };

#define FAULTY_STR2(x) #x
#define FAULTY_STR(x) FAULTY_STR2(x)
constexpr Kind kKind = Kind::FAULTY_KIND;
constexpr const char* kName = FAULTY_STR(FAULTY_NAME);

int fault_len() {
  const char* v = std::getenv("ATTNBENCH_TEST_FAULT_LEN");
  return v && *v ? std::atoi(v) : 128;
}

/// A real SIGSEGV, also in the sanitizer build: a store to the unmapped first page
/// through an address the compiler cannot see. (A null store is caught by UBSan, which
/// exits with status 1, and the optimiser may drop it as undefined behaviour.)
__attribute__((no_sanitize("address", "undefined"), noinline)) void write_through_null() {
  volatile uintptr_t address = 8;
  *reinterpret_cast<volatile int*>(address) = 1;
}

void fail_now() {
  std::fprintf(stderr, "faulty plugin %s: failing on purpose\n", kName);
  std::fflush(stderr);
  switch (kKind) {
    case Kind::segv:
      write_through_null();
      break;
    case Kind::hang:
      while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
    case Kind::abort_call:
      std::abort();
    case Kind::exit_call:
      std::exit(7);
  }
}

ab_status run_attention(void* ctx, const char* variant, const ab_attention_args* a, double* seconds) {
  if (a->len_k == fault_len()) fail_now();
  return ::run_attention(ctx, variant, a, seconds);
}

ab_plugin make_table() {
  ab_plugin t = *attnbench_template_plugin_entry();
  t.name = kName;
  t.description = "test-only backend: the template's naive fp32 that fails on purpose on one shape";
  t.run_attention = run_attention;
  return t;
}

const ab_plugin kPlugin = make_table();

}  // namespace faulty

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return &faulty::kPlugin; }
