// Declarations only: LLVMFuzzerRunDriver is linked from libclang_rt.fuzzer by -sanitize=fuzzer.
#include "cfuzzer.h"
