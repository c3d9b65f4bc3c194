// Test-only KV-method plugins, one per BAD_KIND, for the method-plugin loader tests:
//   wrong_abi      table for KV-method ABI version 7
//   short_struct   struct_size smaller than ab_kv_method
//   null_compress  compress is NULL
//   bad_name       a name with ':' and a space
//   dup_list       the same method listed twice
//   builtin_clash  a complete method named "snapkv" (a built-in holds the name)
//   empty_list     the list holds no method
//   no_entry       no entry point exported
//   failing        a loadable method "test_failing" whose calls fail, for the adapter:
//                  config "test_failing:wrong=1" answers a canonical form of another
//                  method, requested_bytes fails with an internal error, compress answers
//                  unsupported (or invalid for a layer of one token)
// Built into ${CMAKE_BINARY_DIR}/test-plugins-methods-bad (failing: -methods-misc).
#include <attnbench/kv_method_abi.h>

#include <cstdio>
#include <cstring>

#define KIND_wrong_abi 1
#define KIND_short_struct 2
#define KIND_null_compress 3
#define KIND_bad_name 4
#define KIND_dup_list 5
#define KIND_builtin_clash 6
#define KIND_empty_list 7
#define KIND_no_entry 8
#define KIND_failing 9
#define KIND_OF(k) KIND_##k
#define KIND_VALUE(k) KIND_OF(k)
#define THIS_KIND KIND_VALUE(BAD_KIND)

namespace {

ab_status say(char* err, size_t cap, ab_status s, const char* msg) {
  std::snprintf(err, cap, "%s", msg);
  return s;
}

ab_status canonical(const char* config, char* out, size_t cap, char* err, size_t err_cap) {
  if (THIS_KIND == KIND_failing && std::strstr(config, "wrong=1")) {
    std::snprintf(out, cap, "streaming:budget=1");
    return AB_OK;
  }
  if (THIS_KIND == KIND_failing && std::strstr(config, "bad=1")) return say(err, err_cap, AB_INVALID_ARGUMENT, "option bad is bad");
  std::snprintf(out, cap, "%s", THIS_KIND == KIND_failing ? "test_failing" : "snapkv");
  return AB_OK;
}

ab_status requested_bytes(const char*, const ab_kv_layer*, int32_t, uint64_t*, char* err, size_t err_cap) {
  return say(err, err_cap, AB_INTERNAL_ERROR, "requested_bytes broke\nsecond line is dropped");
}

ab_status compress(const ab_kv_env*, const char*, const ab_kv_layer* layer, int32_t, ab_kv_plan*, char* err, size_t err_cap) {
  if (layer->len_k == 1) return say(err, err_cap, AB_INVALID_ARGUMENT, "one token is too few");
  return say(err, err_cap, AB_UNSUPPORTED, "needs a primitive the backend lacks");
}

const char* name() {
  switch (THIS_KIND) {
    case KIND_bad_name: return "bad name:x";
    case KIND_builtin_clash: return "snapkv";
    case KIND_failing: return "test_failing";
    default: return "test_bad";
  }
}

const ab_kv_method kMethod = {
    THIS_KIND == KIND_wrong_abi ? 7u : ATTNBENCH_KV_METHOD_API_VERSION,
    THIS_KIND == KIND_short_struct ? static_cast<uint32_t>(offsetof(ab_kv_method, compress)) : sizeof(ab_kv_method),
    name(),
    "test method",
    "",
    0,
    canonical,
    requested_bytes,
    THIS_KIND == KIND_null_compress ? nullptr : compress};

const ab_kv_method* const kOne[] = {&kMethod, nullptr};
const ab_kv_method* const kTwice[] = {&kMethod, &kMethod, nullptr};
const ab_kv_method* const kNone[] = {nullptr};

}  // namespace

#if THIS_KIND != KIND_no_entry
extern "C" ATTNBENCH_EXPORT const ab_kv_method* const* attnbench_kv_method_entry(void) {
  if (THIS_KIND == KIND_dup_list) return kTwice;
  if (THIS_KIND == KIND_empty_list) return kNone;
  return kOne;
}
#else
extern "C" ATTNBENCH_EXPORT int attnbench_something_else(void) { return 3; }
#endif
