#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that read untrusted files (issue 15): libFuzzer + AddressSanitizer builds of
# the targets in fuzz/ (provenance: every Forensics parser and the C2PA validation; image decoding through cimg.c;
# the watermark decoder; the model-file readers: safetensors, PyTorch checkpoints, ONNX), each seeded from the test fixtures, samples/ and ../shared/data/c2pa-fixtures.tar.
#   bash scripts/fuzz.sh                 each target until RUNS executions (default 1,000,000) or SECONDS_EACH (default 1200)
#   RUNS=20000 bash scripts/fuzz.sh      the CI smoke
# Crashes, leaks and timeouts are written to .cache/fuzz/<target>/ and fail the run; the corpus grows in
# .cache/fuzz/<target>/corpus. A found input, once fixed, goes to Tests/*/Fixtures/fuzz/ as a regression test.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1000000}
SECONDS_EACH=${SECONDS_EACH:-1200}
TARGETS=${TARGETS:-"FuzzProvenance FuzzImageDecode FuzzWatermark FuzzModelFiles"}
DATA=${DATA:-../shared/data}
if [[ -z ${SKIP_BUILD:-} ]]; then
  swift build -c release --package-path fuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address \
    -Xswiftc -use-ld=lld -Xcc -fsanitize=fuzzer-no-link,address >&2 || exit 1
fi
seed() {  # seed <dir> <files...>
  local dir=$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [[ -f $f ]] && cp -n "$f" "$dir/" 2>/dev/null; done
}
shared=()
if [[ -f $DATA/c2pa-fixtures.tar ]]; then
  mkdir -p .cache/fuzz/c2pa && tar -xf "$DATA/c2pa-fixtures.tar" -C .cache/fuzz/c2pa
  while IFS= read -r f; do shared+=("$f"); done < <(find .cache/fuzz/c2pa -type f -size -600k ! -name '*.json')
fi
status=0
# A Swift trap must reach libFuzzer as a crash, not go through the runtime's backtracer (which ASan flags).
export SWIFT_BACKTRACE=enable=no
printf '| target | executions | seconds | exec/s | corpus | peak RSS MB | result |\n|---|---:|---:|---:|---:|---:|---|\n'
for t in $TARGETS; do
  dir=.cache/fuzz/$t
  case $t in
    FuzzProvenance) seed "$dir/corpus" Tests/ForensicsTests/Fixtures/*.jpg Tests/ForensicsTests/Fixtures/*.png samples/*.* "${shared[@]}" ;;
    # Small images only (the fixtures are at most a few hundred pixels a side): big ones cost seconds per run.
    FuzzImageDecode) seed "$dir/corpus" Tests/ImagingTests/Fixtures/*.* Tests/ImagingTests/Fixtures/fuzz/* ;;
    FuzzWatermark) seed "$dir/corpus" Tests/ForensicsTests/Fixtures/camera-nokia.jpg Tests/ForensicsTests/Fixtures/dalle2-exif.jpg ;;
    # Small model files of every format (scripts/make_fuzz_seeds.py) and the kept regressions.
    FuzzModelFiles) seed "$dir/corpus" fuzz/Seeds/FuzzModelFiles/* Tests/ModelsTests/Fixtures/fuzz/* Tests/TorchTests/Fixtures/scripted_io.safetensors ;;
  esac
  maxlen=1048576 malloc=4096 rsslimit=4096
  [[ $t == FuzzImageDecode ]] && maxlen=262144
  # A model file of at most 64 KB never justifies more than 256 MB at once, nor 2 GB in all (many small copies
  # count too: LibTorch alone takes about 700 MB): more is an unbounded allocation.
  [[ $t == FuzzModelFiles ]] && maxlen=65536 malloc=256 rsslimit=2048
  start=$(date +%s)
  log=$dir/last.log
  .build-fuzz/release/$t "$dir/corpus" -runs="$RUNS" -max_total_time="$SECONDS_EACH" -max_len="$maxlen" -rss_limit_mb="$rsslimit" -malloc_limit_mb="$malloc" \
    -timeout=25 -print_final_stats=1 -artifact_prefix="$dir/" > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  rss=$(awk '/stat::peak_rss_mb/ {print $2}' "$log")
  corpus=$(ls "$dir/corpus" | wc -l)
  result=ok
  if [[ $rc != 0 ]]; then result="FAILED (rc $rc, see $log)"; status=1; fi
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "${execs:-?}" "$secs" "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "$corpus" "${rss:-?}" "$result"
done
exit $status
