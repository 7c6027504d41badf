#!/usr/bin/env bash
# `make test-asan`: the whole test suite built with AddressSanitizer (Swift code, the C codec glue in cimg.c, the C++
# LibTorch shim) and UndefinedBehaviorSanitizer (C and C++), into its own scratch folder (.build-asan), then run.
# Any ASan report (overflow, use-after-free, double free) or UBSan report (signed overflow, bad shift, misaligned or
# null access, out-of-range enum/bool loads) aborts the test process, so the suite fails. Not instrumented: the
# Debian codec libraries and LibTorch (their own projects fuzz them). Leak checking is off here: the fuzz targets
# check leaks input by input (scripts/fuzz.sh); at the exit of a test process, caches that live for the process
# (models, LibTorch's allocator) would all read as leaks.
#   bash scripts/test_asan.sh            (SCRATCH=folder; extra arguments go to `swift test`, e.g. --filter Models)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh test
SCRATCH=${SCRATCH:-.build-asan}
# vptr (C++ dynamic-type checks) needs the C++ half of the UBSan runtime, which swiftc's link does not add.
FLAGS=(--scratch-path "$SCRATCH" -Xswiftc -sanitize=address
       -Xcc -fsanitize=address,undefined -Xcc -fno-sanitize=vptr -Xcc -fno-sanitize-recover=undefined -Xcc -fno-omit-frame-pointer)
swift build --build-tests "${FLAGS[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Swift's own backtracer would read the crashed process's memory itself, which ASan reports: its reports come first.
export SWIFT_BACKTRACE=enable=no
swift test --skip-build --disable-xctest "${FLAGS[@]}" "$@"
