import FuzzSupport

runFuzzer { fuzzOneInput($0, $1) }
