// Where tensor storage comes from between layers. Every kernel returns a new tensor and the one before it is freed,
// so a forward pass allocates and frees a few hundred buffers of 0.1–25 MB. glibc serves a buffer above its mmap
// threshold with a fresh mmap (every page faulted in again, then unmapped at free) and returns freed heap memory
// to the kernel above its trim threshold; both thresholds start at 128 KiB and the first rises, at each free of an
// mmapped buffer, to that buffer's size (glibc malloc/malloc.c, "dynamic mmap threshold"). So which layers pay page
// faults depended on the largest tensor freed so far: when the banded MBConv pass (InvertedBottleneck.swift) stopped
// allocating Lite0's 4.8 MB expanded tensor, the threshold stayed lower and the 1.6–1.8 MB tensors of the next
// layers were mapped afresh at every call, twice as slow (measured on an Emerald Rapids Xeon).
//
// keepFreedTensorMemory() fixes both thresholds instead: buffers up to 32 MiB come from the heap, and freed memory
// stays with the process for the next layer (its resident size stays at the peak of a pass, which it reached anyway).

#if canImport(Glibc)
import Glibc
#endif

public enum TensorMemory {
    /// Largest buffer served from the heap rather than by its own mmap (glibc's maximum for this setting on 64-bit).
    public static let heapBufferLimit = 32 << 20

    /// Sets glibc's mmap threshold to `heapBufferLimit` and its trim threshold to 1 GiB, once, at start-up (the command
    /// line calls it before parsing). Does nothing where the C library has no mallopt (not glibc).
    public static func keepFreedTensorMemory() {
        #if canImport(Glibc)
        // mallopt is declared in <malloc.h>, which the Glibc module does not import: found by name instead.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3   // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD (malloc.h)
        _ = mallopt(mmapThreshold, Int32(heapBufferLimit))
        _ = mallopt(trimThreshold, 1 << 30)
        #endif
    }
}
