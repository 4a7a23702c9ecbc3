#!/usr/bin/env bash
# Builds the safetensors fuzz target with libFuzzer and AddressSanitizer, and runs it.
#
#   Tests/Fuzz/run-fuzzer.sh                         # 5 minutes (FUZZ_SECONDS=300)
#   FUZZ_SECONDS=60 Tests/Fuzz/run-fuzzer.sh         # shorter
#   Tests/Fuzz/run-fuzzer.sh -runs=1000000           # extra arguments go to libFuzzer
#
# The target is compiled directly with swiftc against the library sources (no Package.swift
# flags needed). Build products and the working corpus live in .build-fuzz/ (git-ignored via
# .build*). The seed corpus is Tests/Fuzz/Corpus/ plus the PyTorch fixture.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.build-fuzz"
mkdir -p "$out/corpus" "$out/artifacts"
cp -n "$root/Tests/Fuzz/Corpus/"* "$out/corpus/" 2>/dev/null || true
cp -n "$root/Tests/BackpropTests/Fixtures/pytorch_fixture.safetensors" "$out/corpus/" 2>/dev/null || true

sources=$(find "$root/Sources/Backprop" -name '*.swift' | sort)
if [[ ! -x "$out/safetensors-fuzzer" || -n "$(find "$root/Sources/Backprop" "$root/Tests/Fuzz" -name '*.swift' -newer "$out/safetensors-fuzzer")" ]]; then
    echo "building $out/safetensors-fuzzer"
    # -parse-as-library: no top-level code; libFuzzer provides main().
    swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name SafeTensorsFuzz \
        $sources "$root/Tests/Fuzz/SafeTensorsFuzzTarget.swift" -o "$out/safetensors-fuzzer"
fi

seconds="${FUZZ_SECONDS:-300}"
# -max_len: the reader's interesting structure is in the first few kilobytes.
# -timeout: any single input taking over 10 s counts as a hang.
# -rss_limit_mb: an input that makes the reader allocate beyond 2 GB counts as a failure.
"$out/safetensors-fuzzer" "$out/corpus" -artifact_prefix="$out/artifacts/" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$@"
