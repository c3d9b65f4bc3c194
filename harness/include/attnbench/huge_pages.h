/* Transparent huge pages for large host buffers (a long context's K and V): the harness's
 * generated inputs and a CPU backend's device buffers. In a VM a page fault per 4 KiB made
 * filling hundreds of MB take seconds per case. Header-only C++17, for the harness and
 * plugins alike. */
#pragma once

#include <cstddef>
#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace attnbench {

/** The huge page size the advice is for (x86-64 and arm64 Linux). */
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

/** Asks the kernel for transparent huge pages on the whole huge pages inside
 *  [p, p + bytes) (madvise MADV_HUGEPAGE). Advice only: where it is refused or
 *  unsupported, nothing changes. Call it before the memory is first written. */
inline void advise_huge_pages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t first = (begin + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const uintptr_t end = (begin + bytes) & ~(kHugePageBytes - 1);
  if (end > first) madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace attnbench
