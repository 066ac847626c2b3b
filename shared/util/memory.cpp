#include "shared/util/memory.h"

#include <malloc.h>

namespace faultline {

void tuneAllocatorForBatches() {
#if defined(__GLIBC__)
  // Buffers up to 64 MiB (the largest decompressed batch) come from the heap and are reused.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  // Keep up to 128 MiB of freed memory instead of returning it after every batch.
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
}

void tuneAllocatorForAgent() {
  tuneAllocatorForBatches();
#if defined(__GLIBC__)
  mallopt(M_ARENA_MAX, 1);
#endif
}

void releaseFreeMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace faultline
