// The process's allocator policy for large tensor buffers (glibc only; a no-op elsewhere).
#include "BackpropKernelsC.h"
#include <stdlib.h>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>

int bp_memory_retain_freed(void) {
    // Serve blocks up to glibc's largest allowed mmap threshold (32 MiB on 64-bit) from the heap,
    // and never give the heap's free top back to the kernel on `free`: a buffer freed by one step
    // is then reused, already mapped, by the next, instead of being unmapped and faulted in (and
    // zeroed by the kernel) again page by page.
    // Larger blocks (an embedding table's gradient: 30522 × 384 floats, 47 MB) would still be
    // mapped afresh every step, so the main heap serves those too (M_MMAP_MAX 0; glibc still maps
    // a block when its heap cannot grow).
    int ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    ok &= mallopt(M_TRIM_THRESHOLD, 1 << 30);
    ok &= mallopt(M_MMAP_MAX, 0);
    return ok;
}

void bp_memory_release_free(void) { malloc_trim(0); }

#else

int bp_memory_retain_freed(void) { return 0; }
void bp_memory_release_free(void) {}

#endif
