// OpenBLAS's CBLAS (Debian: libopenblas-dev) and LAPACKE (liblapacke-dev).
#include <cblas.h>
#include <lapacke.h>

// The spin-wait hint for NeuralKernels' worker pool (WorkerPool.swift): PAUSE on x86 (lets the core save power and
// leaves the pipeline to a sibling hyperthread while a worker polls for the next job), YIELD on ARM. Swift has no
// spelling for it; a static inline function here compiles to the one instruction.
static inline void carcinoma_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// A prefetch of the line at `address` into the first-level cache, for writing (PREFETCHW on x86-64 where the target has
// it, else PREFETCHT0; PRFM PSTL1KEEP on ARM). The packed GEMM's micro-kernel (PackedGemm.swift) asks for its C tile's
// lines when it starts, so that they arrive while it multiplies instead of when it stores; Swift has no spelling for it.
static inline void carcinoma_prefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

// The same for reading (PREFETCHT0; PRFM PLDL1KEEP): a finishing tile (PackedGemm.swift) asks for its residual's lines
// shortly before its stores. Twelve rows a plane apart are twelve streams the hardware prefetcher does not follow;
// waiting for them at the stores cost more than the separate pass over the output that the tile replaces.
static inline void carcinoma_prefetch_for_read(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

// Pins the calling thread to one core (Linux sched_setaffinity on thread 0 = the caller); 0 on success, -1 elsewhere
// or when refused. `carcinoma bench cores` (Benchmarks/CoreDistance.swift) measures how far apart two cores are with
// a thread on each; Glibc's module does not export sched_setaffinity to Swift (it is a _GNU_SOURCE declaration).
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
static inline int carcinoma_pin_calling_thread(int core) {
#if defined(__linux__)
    unsigned long mask[16] = {0};
    const int bits = 8 * (int)sizeof(unsigned long);
    if (core < 0 || core >= 16 * bits) return -1;
    mask[core / bits] = 1UL << (core % bits);
    return syscall(SYS_sched_setaffinity, 0, sizeof mask, mask) == 0 ? 0 : -1;
#else
    (void)core;
    return -1;
#endif
}
