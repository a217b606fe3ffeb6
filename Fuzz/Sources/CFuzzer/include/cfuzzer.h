// libFuzzer's driver entry point (compiler-rt, FuzzerDriver.cpp). Each fuzz executable's
// main.swift calls it, because SwiftPM gives executable targets their own `main`, which would
// otherwise shadow libFuzzer's.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
