#!/usr/bin/env bash
# Runs one fuzz target of marketsync for a number of seconds, on its committed corpus.
#
#   fuzz/run.sh <target> [seconds] [extra libFuzzer options...]
#   fuzz/run.sh list                 # the targets
#   fuzz/run.sh cmin <target>        # minimise a target's corpus in place
#
# Installs cargo-fuzz when it is missing, and a nightly toolchain when it is missing and can be
# fetched; without one it uses the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly-only flags; FUZZ_TOOLCHAIN=stable
# forces that). The address
# sanitizer is used by default; set FUZZ_SANITIZER=none for a faster, uninstrumented-memory run.
# The fuzzer starts from fuzz/seeds/<target>/ (realistic bodies, kept by name) and
# fuzz/corpus/<target>/ (what earlier runs kept); new inputs go to the corpus (minimise with `cmin`
# before committing); crashes land in fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "$0")"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# FUZZ_TOOLCHAIN=stable forces the stable toolchain (with RUSTC_BOOTSTRAP=1) even when a nightly
# is installed.
toolchain=()
if [ "${FUZZ_TOOLCHAIN:-}" != "stable" ] && ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    # Install nightly when the machine can fetch it; where it cannot (an offline or pinned
    # machine), the stable toolchain with RUSTC_BOOTSTRAP=1 below does the same work.
    rustup toolchain install nightly --profile minimal >&2 || echo "no nightly: using stable with RUSTC_BOOTSTRAP=1" >&2
fi
if [ "${FUZZ_TOOLCHAIN:-}" != "stable" ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
sanitizer="${FUZZ_SANITIZER:-address}"

if [ "${1:-}" = "list" ]; then
    cargo "${toolchain[@]}" fuzz list
    exit 0
fi

host="$(rustc -vV | sed -n 's/^host: //p')"

if [ "${1:-}" = "cmin" ]; then
    # Keeps the smallest set of inputs (at most 4 KiB each) that covers every edge the corpus
    # covers, so the committed corpus stays small; the seeds are kept apart, whole.
    target="${2:?usage: run.sh cmin <target>}"
    cargo "${toolchain[@]}" fuzz build -O --sanitizer "$sanitizer" "$target"
    mkdir -p "corpus/$target"
    minimised="$(mktemp -d)"
    "target/$host/release/$target" -merge=1 -use_counters=0 -max_len=4096 \
        "$minimised" "corpus/$target"
    rm -rf "corpus/$target"
    mkdir -p "corpus/$target"
    cp "$minimised"/* "corpus/$target"/ 2>/dev/null || true
    rm -rf "$minimised"
    exit 0
fi

target="${1:?usage: run.sh <target> [seconds] [libFuzzer options...]}"
seconds="${2:-600}"
shift $(( $# >= 2 ? 2 : 1 ))

mkdir -p "corpus/$target" "artifacts/$target"
# Build, then run the binary itself (`cargo fuzz run` rebuilds with other flags here).
cargo "${toolchain[@]}" fuzz build -O --sanitizer "$sanitizer" "$target"
exec "target/$host/release/$target" "corpus/$target" "seeds/$target" \
    -artifact_prefix="artifacts/$target/" -max_total_time="$seconds" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$@"
