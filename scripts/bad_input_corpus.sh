#!/usr/bin/env bash
# The bad-input corpus (scripts/make_bad_corpus.py: >= 10,000 malformed files) through `aidetect scan` and the API.
# Checks: the scan ends normally (exit 0-3, never a signal) with one row per file, every unreadable file has a typed
# error (errorKind) naming the file, and the untouched controls score exactly as when scanned alone; then every file
# is POSTed to /api/v1/analyze (each answer 200 or a JSON error 400/413/415/422, never 5xx or a dropped
# connection) and sent in batches of 8 with a control in each (the control's line carries its report); the
# server answers /healthz at the end. Writes results/bad-input/summary.{json,md} and prints the Markdown.
# MODEL (default: bundled, the fast model) scores what decodes: the parsers are under test here, not the detector,
# and the CLIP model would take hours over 10,000 files on 2 cores.
#   bash scripts/bad_input_corpus.sh          (AIDETECT=binary to use another build; CORPUS=folder; TARGET=files)
set -euo pipefail
cd "$(dirname "$0")/.."
A=${AIDETECT:-.build/release/aidetect}
CORPUS=${CORPUS:-.cache/bad-corpus}
OUT=${OUT:-results/bad-input}
export MODEL=${MODEL:-bundled}
TARGET=${TARGET:-10000}
[ -x "$A" ] || swift build -c release --product aidetect >/dev/null
mkdir -p "$OUT"
rm -rf "$CORPUS"
/usr/bin/python3 scripts/make_bad_corpus.py --output "$CORPUS" --target "$TARGET" > "$OUT/corpus.txt"
mkdir -p "$OUT/controls"
rm -f "$OUT"/controls/*
for f in "$CORPUS"/control--*; do cp "$f" "$OUT/controls/"; done

t0=$(date +%s.%N)
set +e
/usr/bin/time -f "%M %e" -o "$OUT/scan-time.txt" "$A" scan "$CORPUS" --model "$MODEL" --json --all-files --quiet > "$OUT/scan.jsonl" 2> "$OUT/scan.err"
SCAN_RC=$?
"$A" scan "$OUT/controls" --model "$MODEL" --json --quiet > "$OUT/controls.jsonl" 2>/dev/null
set -e

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$A" serve --port "$PORT" --models "$MODEL" --timeout 120 2> "$OUT/server.log" & SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

/usr/bin/python3 - "$CORPUS" "$OUT" "$PORT" "$SCAN_RC" "$SERVER" <<'PY'
import csv, collections, http.client, json, os, sys, time, urllib.parse, uuid
corpus, out, port, scan_rc, server_pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rows = list(csv.DictReader(open(f"{corpus}/manifest.csv")))
category = {r["file"]: r["category"] for r in rows}
failures = []

# Scan.
scan = {}
for line in open(f"{out}/scan.jsonl"):
    r = json.loads(line)
    if "path" in r:          # the last line is the scan's summary
        scan[os.path.basename(r["path"])] = r
peak_kb, scan_s = open(f"{out}/scan-time.txt").read().split()[-2:]
missing = [f for f in category if f not in scan]
if scan_rc > 3: failures.append(f"scan exit status {scan_rc}")
if missing: failures.append(f"scan rows missing for {len(missing)} files, e.g. {missing[:3]}")
for f, r in scan.items():
    if f in category and r.get("probability") is None and not (r.get("errorKind") and f in r.get("error", "")):
        failures.append(f"scan: {f} has neither a score nor a typed error naming it")
alone = {os.path.basename(r["path"]): r for r in map(json.loads, open(f"{out}/controls.jsonl")) if "path" in r}
for f, r in alone.items():
    if scan.get(f, {}).get("probability") != r.get("probability"):
        failures.append(f"control {f}: {scan.get(f, {}).get('probability')} in the corpus scan, {r.get('probability')} alone")

# API, one file per request.
def post(path, body, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    except Exception as e:
        return None, repr(e).encode()
    finally:
        c.close()

import concurrent.futures
api = {}
t = time.time()
def analyze(f):
    data = open(f"{corpus}/{f}", "rb").read()
    status, body = post(f"/api/v1/analyze?name={urllib.parse.quote(f)}", data, {"Content-Type": "application/octet-stream"})
    kind = None
    try:
        j = json.loads(body)
        kind = j["error"]["kind"] if status != 200 else "ok"
    except Exception:
        pass
    return f, status, kind, body
# Four clients at a time (the server's own concurrency is what is exercised, as users would).
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    for f, status, kind, body in pool.map(analyze, list(category)):
        api[f] = (status, kind)
        if status not in (200, 400, 413, 415, 422) or kind is None:
            failures.append(f"api: {f} -> {status} {body[:120]!r}")
api_s = time.time() - t

# API batches of 8 (7 corpus files + a control); the control's line must hold a report.
control = sorted(f for f in category if category[f] == "control")[0]
others = [f for f in category if category[f] != "control"]
batches = bad_batches = 0
def batch(i):
    group = others[i:i + 7] + [control]
    boundary = uuid.uuid4().hex
    body = b"".join(b"--" + boundary.encode() + f'\r\nContent-Disposition: form-data; name="file"; filename="{f}"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n".encode() + open(f"{corpus}/{f}", "rb").read() + b"\r\n"
                    for f in group) + b"--" + boundary.encode() + b"--\r\n"
    status, text = post("/api/v1/batch", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    lines = [json.loads(l) for l in text.decode(errors="replace").splitlines() if l.strip().startswith("{")] if status == 200 else []
    last = [l for l in lines if l.get("file") == control]
    return i, status, len(group), lines, last
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    for i, status, n, lines, last in pool.map(batch, range(0, len(others), 7)):
        batches += 1
        if status != 200 or len(lines) != n or not last or "report" not in last[0]:
            bad_batches += 1
            failures.append(f"batch at file {i}: status {status}, {len(lines)} lines for {n} files")

c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("GET", "/healthz")
healthy = c.getresponse().status == 200
alive = os.path.exists(f"/proc/{server_pid}")
rss = next((int(l.split()[1]) // 1024 for l in open(f"/proc/{server_pid}/status") if l.startswith("VmRSS")), None) if alive else None
hwm = next((int(l.split()[1]) // 1024 for l in open(f"/proc/{server_pid}/status") if l.startswith("VmHWM")), None) if alive else None
if not healthy: failures.append("server: /healthz did not answer 200 at the end")

cats = list(dict.fromkeys(r["category"] for r in rows))
table = []
for cat in cats:
    files = [f for f in category if category[f] == cat]
    sk = collections.Counter(scan[f].get("errorKind") or "scored" for f in files if f in scan)
    ak = collections.Counter(f"{api[f][0]} {api[f][1]}" if api[f][0] != 200 else "200" for f in files)
    table.append({"category": cat, "files": len(files), "scan": dict(sk), "api": dict(ak)})
summary = {"files": len(category), "scan_exit": scan_rc, "scan_seconds": float(scan_s), "scan_peak_rss_mb": int(peak_kb) // 1024,
           "api_seconds": round(api_s, 1), "batches": batches, "bad_batches": bad_batches, "server_alive": alive,
           "server_rss_mb_end": rss, "server_peak_rss_mb": hwm, "healthz_after": healthy, "failures": failures, "categories": table}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
md = [f"# Bad-input corpus: {len(category)} files through `scan` and the API (model: {os.environ.get('MODEL', 'bundled')})", "",
      f"Generated by `bash scripts/bad_input_corpus.sh` ({time.strftime('%Y-%m-%d')}). Scan: exit {scan_rc}, {len(scan)} rows,"
      f" {float(scan_s):.0f} s, peak RSS {int(peak_kb) // 1024} MB. API: {len(category)} single requests in {api_s:.0f} s and {batches}"
      f" batches of 8 (7 corpus files + a control; {batches - bad_batches} with every line and the control's report); server alive"
      f" after: {'yes' if alive else 'NO'}, /healthz {'200' if healthy else 'FAILED'}, RSS {rss} MB at the end (peak {hwm} MB).", "",
      "| category | files | scan: outcome (count) | API: status and error kind (count) |", "|---|---:|---|---|"]
for r in table:
    md.append(f"| {r['category']} | {r['files']} | " + ", ".join(f"{k} {v}" for k, v in sorted(r["scan"].items())) + " | "
              + ", ".join(f"{k} {v}" for k, v in sorted(r["api"].items())) + " |")
md += ["", f"Failures: {len(failures)}" + ("" if not failures else "\n\n" + "\n".join(f"- {x}" for x in failures[:50]))]
open(f"{out}/summary.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
sys.exit(1 if failures else 0)
PY
