#!/usr/bin/env bash
# bench/haproxy: deploy/haproxy.cfg in front of 2 `aidetect serve` processes, on this machine in one run.
#   1. direct: wrk against the 2 processes at once (C/2 connections each): summed 2xx/s;
#   2. through HAProxy: wrk with C connections against the frontend: 2xx/s; the ratio to direct (target >= 0.95);
#      1 and 2 alternate (direct, proxy, direct, proxy) and each side keeps its mean, as this VM's speed drifts;
#   3. drain: wrk through HAProxy while one process gets SIGTERM a third of the way in: every response must be a
#      2xx and no socket error (no accepted request lost); the process must exit 0 after draining.
# Each process gets cores/2 LibTorch threads and as many inference slots. Peak RSS of each process is printed.
#   bash bench/haproxy.sh               (needs wrk and haproxy: scripts/install-deps.sh bench)
#   DURATION=10 MODELS=default bash bench/haproxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
C=${C:-8}
MODELS=${MODELS:-bundled}
IMAGE=${IMAGE:-samples/real-IMG_0003.jpg}
OUT=${OUT:-results/bench-haproxy}
N=$(nproc); T=$(( N / 2 > 0 ? N / 2 : 1 ))
for tool in wrk haproxy; do command -v $tool >/dev/null || { echo "bench/haproxy: $tool is missing (bash scripts/install-deps.sh bench)" >&2; exit 1; }; done
swift build -c release --product aidetect >/dev/null
A=.build/release/aidetect
mkdir -p "$OUT"; rm -f "$OUT"/*
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hwm_mb() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' /proc/$1/status 2>/dev/null || echo "?"; }
start_server() {  # port log -> PID
  AIDETECT_THREADS=$T $A serve --port "$1" --models "$MODELS" --concurrency $T --drain-seconds 3 2>>"$2" & PID=$!
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
    kill -0 $PID 2>/dev/null || { echo "bench/haproxy: a server exited at start (see $2)" >&2; exit 1; }
    sleep 0.2
  done
  echo "bench/haproxy: a server did not answer /healthz" >&2; exit 1
}
wrk_at() {  # port connections seconds json
  BENCH_IMAGE="$IMAGE" wrk -t 1 -c "$2" -d "${3}s" --timeout 60s -s bench/server/analyze.lua "http://127.0.0.1:$1/api/v1/analyze" | grep '^{' > "$4"
}
ok_rate() { /usr/bin/python3 -c 'import json,sys; print(sum(json.load(open(f))["ok_per_s"] for f in sys.argv[1:]))' "$@"; }

P1=$(free_port); P2=$(free_port); PF=$(free_port)
start_server $P1 "$OUT/s1.log"; S1=$PID
start_server $P2 "$OUT/s2.log"; S2=$PID
sed -e "s/FRONTEND_PORT/$PF/" -e "s/SERVER1_PORT/$P1/" -e "s/SERVER2_PORT/$P2/" deploy/haproxy.cfg > "$OUT/haproxy.cfg"
haproxy -f "$OUT/haproxy.cfg" -db > "$OUT/haproxy.log" 2>&1 & HP=$!
trap 'kill $S1 $S2 $HP 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PF/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
sleep 2   # both servers up in HAProxy's checks (rise 2)
wrk_at $P1 1 3 "$OUT/warm.json"; wrk_at $P2 1 3 "$OUT/warm.json"

echo "# bench/haproxy"
echo
echo "Machine: $N cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(haproxy -v | head -1 | cut -d' ' -f1-3); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)."
echo "2 processes x $T LibTorch threads, --concurrency $T; model: $MODELS; image: $IMAGE ($(stat -c %s "$IMAGE") bytes); $C connections, $DURATION s per run; $(date -u +%Y-%m-%d)."
echo
for round in 1 2; do
  wrk_at $P1 $(( C / 2 )) "$DURATION" "$OUT/direct-$round-s1.json" & W1=$!
  wrk_at $P2 $(( C / 2 )) "$DURATION" "$OUT/direct-$round-s2.json" & W2=$!
  wait $W1 $W2
  wrk_at $PF $C "$DURATION" "$OUT/proxy-$round.json"
done
DIRECT=$(/usr/bin/python3 -c "print(($(ok_rate $OUT/direct-1-s1.json $OUT/direct-1-s2.json) + $(ok_rate $OUT/direct-2-s1.json $OUT/direct-2-s2.json)) / 2)")
PROXY=$(/usr/bin/python3 -c "print(($(ok_rate $OUT/proxy-1.json) + $(ok_rate $OUT/proxy-2.json)) / 2)")
/usr/bin/python3 - "$OUT" "$DIRECT" "$PROXY" <<'PY'
import json, sys
out, direct, proxy = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
print("| run | 2xx/s | p50 ms | p99 ms | statuses | socket errors |")
print("|---|---:|---:|---:|---|---|")
for name in ["direct-1-s1", "direct-1-s2", "proxy-1", "direct-2-s1", "direct-2-s2", "proxy-2"]:
    r = json.load(open(f"{out}/{name}.json"))
    errs = sum(r["socket_errors"].values())
    print(f"| {name} | {r['ok_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['statuses']} | {errs} |")
print()
print(f"Direct (2 processes, mean of 2 rounds): {direct:.1f} 2xx/s; through HAProxy: {proxy:.1f} 2xx/s; **ratio {proxy / direct:.3f}** (target >= 0.95).")
PY
echo

# 3. Drain under load: SIGTERM to s1 a third of the way into a run through HAProxy.
wrk_at $PF $C "$DURATION" "$OUT/drain.json" & W=$!
sleep $(( DURATION / 3 ))
H1=$(hwm_mb $S1); H2=$(hwm_mb $S2)
kill -TERM $S1
set +e; wait $S1; S1_STATUS=$?; set -e
wait $W
/usr/bin/python3 - "$OUT/drain.json" "$S1_STATUS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); status = int(sys.argv[2])
errs = sum(r["socket_errors"].values())
non2xx = r["requests"] - r["ok"]
print(f"Drain: SIGTERM to process 1 during load; it exited with status {status}. Through HAProxy: {r['requests']} responses, "
      f"{r['ok']} 2xx, statuses {r['statuses']}, {errs} socket errors. "
      + ("**No accepted request lost.**" if non2xx == 0 and errs == 0 and status == 0 else "**Requests were lost or refused.**"))
PY
grep -h "draining\|drained" "$OUT/s1.log" | sed 's/^/    /'
echo
echo "Peak RSS: process 1 $H1 MB (before SIGTERM), process 2 $(hwm_mb $S2) MB, HAProxy $(hwm_mb $HP) MB."
