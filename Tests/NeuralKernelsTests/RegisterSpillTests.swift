// The packed GEMM's register tiles keep every accumulator in a register for the whole k loop: scripts/check_spills.sh
// disassembles this test binary (which links the same NeuralKernels code as the carcinoma executable) and counts the
// vector loads and stores on the stack inside the tiles. Unrolled by four, the k loop of the 12 x 32 AVX-512 tile had
// 20-95 of them per tile (3-8% of a pass); rolled, none.

import Foundation
import XCTest

final class RegisterSpillTests: XCTestCase {
    func testGemmTilesDoNotSpillVectorRegisters() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/check_spills.sh")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/objdump") else {
            throw XCTSkip("skipped: no objdump (binutils) to disassemble the tiles")
        }
        #if DEBUG
        throw XCTSkip("skipped: a debug build keeps everything on the stack (the check is for release builds)")
        #else
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertTrue(text.contains("GEMM register tiles"), "check_spills.sh printed: \(text)")
        XCTAssertFalse(text.contains(" 0 functions"), "no tile found in the binary: \(text)")
        XCTAssertEqual(process.terminationStatus, 0, "vector registers spilled in the GEMM tiles:\n\(text)")
        #endif
    }
}
