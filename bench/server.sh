#!/usr/bin/env bash
# bench/server: the web service under load, against the same work without HTTP, on this machine in one run.
#   1. raw: Analyzer.analyze (decode + default model + provenance) on IMAGE from 1 and from N threads (N = the
#      server's inference concurrency = cores), no HTTP: images/s, p50/p99 (aidetect-bench analyze_raw);
#   2. wrk against POST /api/v1/analyze with IMAGE at 1, 4, 16, 64 connections: 2xx/s, p50/p99, statuses; the
#      ratio of the best 2xx/s to the best raw images/s (target >= 0.9);
#   3. overload: a server with a short queue (--queue 6, so N + 6 requests in the house) under 10x that many
#      connections: 503 + Retry-After expected, no crash, /healthz polled all the while (answered share, worst time);
#   4. soak: SOAK seconds (default 600) at 4 connections; the server's RSS every 10 s, start / end / peak.
# Prints a Markdown report; raw JSON lines go to OUT (default results/bench-server).
#   bash bench/server.sh                   (make bench-server; needs wrk: scripts/install-deps.sh bench)
#   DURATION=10 SOAK=60 bash bench/server.sh   (a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
SOAK=${SOAK:-600}
IMAGE=${IMAGE:-samples/real-IMG_0003.jpg}
OUT=${OUT:-results/bench-server}
N=$(nproc)
command -v wrk >/dev/null || { echo "bench/server: wrk is missing (bash scripts/install-deps.sh bench)" >&2; exit 1; }
swift build -c release --product aidetect >/dev/null
swift build -c release --product aidetect-bench >/dev/null
A=.build/release/aidetect
B=.build/release/aidetect-bench
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' /proc/$1/status; }
hwm_mb() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' /proc/$1/status; }
start_server() {  # port, extra args...; sets PID
  local port=$1; shift
  $A serve --port "$port" "$@" 2>>"$OUT/server.log" & PID=$!
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 $PID 2>/dev/null || { echo "bench/server: the server exited at start (see $OUT/server.log)" >&2; exit 1; }
    sleep 0.2
  done
  echo "bench/server: the server did not answer /healthz" >&2; exit 1
}
drain() {  # port: waits until no request is queued or running (wrk leaves its last requests behind when it stops)
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$1/metrics" | grep -Eq '^aidetect_(queue_depth|inference_in_flight) [1-9]' || return 0
    sleep 0.2
  done
}
wrk_run() {  # port, connections, seconds, name
  BENCH_IMAGE="$IMAGE" wrk -t $(( $2 < N ? $2 : N )) -c "$2" -d "${3}s" --timeout 60s -s bench/server/analyze.lua \
    "http://127.0.0.1:$1/api/v1/analyze" | grep '^{' > "$OUT/$4.json"
  drain "$1"
}

echo "# bench/server"
echo
echo "Machine: $N cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2);"
echo "image: $IMAGE ($(stat -c %s "$IMAGE") bytes); model: default ($([ -f models/clip-probe.safetensors ] && echo "the CLIP model, models/clip-probe.safetensors" || echo "the bundled model")); $DURATION s per load level; $(date -u +%Y-%m-%d)."
echo

# 1. Raw, before and after the load levels (the best of the two counts: this VM's speed drifts).
raw() { for k in 1 $N; do $B analyze_raw --file "$IMAGE" --concurrency $k --seconds "$DURATION" > "$OUT/raw-$k-$1.json"; done; }
raw before

# 2. Load levels.
PORT=$(free_port)
start_server "$PORT"
SERVER=$PID
RSS_START=$(rss_mb $SERVER)
for c in 1 4 16 64; do wrk_run "$PORT" $c "$DURATION" "wrk-$c"; done
RSS_AFTER_LOAD=$(rss_mb $SERVER)
kill -STOP $SERVER  # idle and out of the way while the raw path runs again
raw after
kill -CONT $SERVER

# 3. Overload on a second server with a short queue.
OPORT=$(free_port)
start_server "$OPORT" --queue 6
OVER=$PID
OC=$(( (N + 6) * 10 ))
/usr/bin/python3 - "$OPORT" "$DURATION" > "$OUT/health-during-overload.json" <<'PY' &
import json, sys, time, urllib.request
port, seconds = sys.argv[1], float(sys.argv[2])
ok = total = 0; worst = 0.0
end = time.time() + seconds
while time.time() < end:
    t = time.time(); total += 1
    try:
        ok += urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
    except OSError:
        pass
    worst = max(worst, time.time() - t); time.sleep(0.25)
print(json.dumps({"polls": total, "answered": ok, "worst_ms": round(worst * 1000, 1)}))
PY
POLL=$!
wrk_run "$OPORT" $OC "$DURATION" overload
wait $POLL
OVER_ALIVE=$(kill -0 $OVER 2>/dev/null && curl -fs "http://127.0.0.1:$OPORT/healthz" >/dev/null && echo yes || echo NO)
kill $OVER; wait $OVER 2>/dev/null || true

# 4. Soak on the first server.
: > "$OUT/soak-rss.log"
( while kill -0 $SERVER 2>/dev/null; do echo "$(date +%s) $(rss_mb $SERVER)" >> "$OUT/soak-rss.log"; sleep 10; done ) & SAMPLER=$!
RSS_SOAK_START=$(rss_mb $SERVER)
wrk_run "$PORT" 4 "$SOAK" soak
RSS_SOAK_END=$(rss_mb $SERVER)
PEAK=$(hwm_mb $SERVER)
ALIVE=$(curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && echo yes || echo NO)
kill $SAMPLER 2>/dev/null || true
kill $SERVER; wait $SERVER 2>/dev/null || true

/usr/bin/python3 - "$OUT" "$N" "$OC" "$RSS_START" "$RSS_AFTER_LOAD" "$RSS_SOAK_START" "$RSS_SOAK_END" "$PEAK" "$ALIVE" "$OVER_ALIVE" "$SOAK" <<'PY'
import json, sys
out, n, oc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rss_start, rss_load, soak_start, soak_end, peak = map(float, sys.argv[4:9])
alive, over_alive, soak = sys.argv[9], sys.argv[10], sys.argv[11]
j = lambda name: json.load(open(f"{out}/{name}.json"))
raw = {k: max((j(f"raw-{k}-{w}") for w in ("before", "after")), key=lambda r: r["images_per_s"]) for k in sorted({1, n})}
print("| path | concurrency | images/s (2xx) | p50 ms | p99 ms | statuses |")
print("|---|---:|---:|---:|---:|---|")
for k, r in raw.items():
    print(f"| raw Analyzer.analyze, no HTTP (best of 2 runs) | {k} | {r['images_per_s']:.2f} | {r['median_ms']:.1f} | {r['p99_ms']:.1f} | |")
best_raw = max(r["images_per_s"] for r in raw.values())
levels = {c: j(f"wrk-{c}") for c in (1, 4, 16, 64)}
for c, w in levels.items():
    st = ", ".join(f"{k}: {v}" for k, v in sorted(w["statuses"].items()))
    errs = {k: v for k, v in w["socket_errors"].items() if v}
    print(f"| server, wrk | {c} | {w['ok_per_s']:.2f} | {w['p50_ms']:.1f} | {w['p99_ms']:.1f} | {st}{'; socket errors ' + str(errs) if errs else ''} |")
best = max(w["ok_per_s"] for w in levels.values())
ratio = best / best_raw
print()
print(f"Server / raw throughput (best of each): {best:.2f} / {best_raw:.2f} = **{ratio:.3f}** (target >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'}).")
o, h = j("overload"), j("health-during-overload")
st = ", ".join(f"{k}: {v}" for k, v in sorted(o["statuses"].items()))
print(f"Overload ({oc} connections against {n} running + 6 queued): statuses {st}; 2xx/s {o['ok_per_s']:.2f};"
      f" /healthz answered {h['answered']}/{h['polls']} polls during it (worst {h['worst_ms']} ms); server alive after: {over_alive};"
      f" Retry-After on the 503s: {o.get('retry_after') or 'none'}.")
s = j("soak")
rs = [float(l.split()[1]) for l in open(f"{out}/soak-rss.log") if len(l.split()) == 2]
print(f"Soak ({soak} s, 4 connections): {s['ok']} analyses, {s['ok_per_s']:.2f}/s, p99 {s['p99_ms']:.1f} ms, non-2xx"
      f" {sum(v for k, v in s['statuses'].items() if not k.startswith('2'))}; server RSS {rss_start:.0f} MB idle, {rss_load:.0f} MB after the"
      f" load levels, {soak_start:.0f} MB at soak start, {soak_end:.0f} MB at its end (samples every 10 s: min {min(rs):.0f},"
      f" max {max(rs):.0f}); peak {peak:.0f} MB; alive after: {alive}.")
PY
