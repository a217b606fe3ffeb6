// What every benchmark harness measures with: the median of a sample and the process's CPU time.

import Foundation

/// The median of a non-empty sample.
public func medianOf(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// CPU time consumed so far by every thread of this process (CLOCK_PROCESS_CPUTIME_ID), in seconds: unlike wall
/// time it does not grow while the process waits for a busy machine's cores.
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
