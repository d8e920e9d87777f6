#!/usr/bin/env bash
# A short fuzzing smoke run of every target, run by CI (.ci/run, SMOKE_SECONDS per
# target there: 15 s). Needs `cargo install cargo-fuzz` and a C++ toolchain; RUSTC_BOOTSTRAP=1 lets the stable compiler build libFuzzer's
# sanitizer flags.
#
#   fuzz/smoke.sh            # 60 s per target, the release build
#   SMOKE_SECONDS=600 fuzz/smoke.sh
#   SMOKE_BUILD=--dev fuzz/smoke.sh   # unoptimised (CI: a shorter build; slower executions)
#
# Each target first replays its committed regressions (fuzz/regressions/<target>/)
# and corpus, then mutates for SMOKE_SECONDS; new inputs go to a temporary
# directory, so the committed corpus is left as it is. Exits non-zero on any
# crash, leaving the input under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds="${SMOKE_SECONDS:-60}"
build="${SMOKE_BUILD:---release}"
for target in npy_read safetensors_read eval_args; do
  scratch="$(mktemp -d)"
  if [ -d "regressions/$target" ]; then
    cargo fuzz run "$build" "$target" regressions/"$target"/* -- -rss_limit_mb=2048
  fi
  cargo fuzz run "$build" "$target" "$scratch" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
  rm -rf "$scratch"
done
