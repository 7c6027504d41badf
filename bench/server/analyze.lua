-- wrk script for bench/server.sh: POSTs one image (BENCH_IMAGE) to /api/v1/analyze and prints one JSON line
-- with throughput (2xx only), latency percentiles and the count of each non-2xx status.
local path = os.getenv("BENCH_IMAGE")
local f = assert(io.open(path, "rb"), "cannot open BENCH_IMAGE " .. tostring(path))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"

local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
  retry_after = ""
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 then retry_after = headers["Retry-After"] or headers["retry-after"] or retry_after end
end
function done(summary, latency, requests)
  local counts, retry = {}, ""
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do counts[k] = (counts[k] or 0) + v end
    if t:get("retry_after") ~= "" then retry = t:get("retry_after") end
  end
  local ok, parts = 0, {}
  for k, v in pairs(counts) do
    if k >= 200 and k < 300 then ok = ok + v end
    table.insert(parts, string.format('"%d": %d', k, v))
  end
  local e = summary.errors
  io.write(string.format('{"seconds": %.3f, "requests": %d, "ok": %d, "ok_per_s": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "statuses": {%s}, "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "retry_after": "%s"}\n',
    summary.duration / 1e6, summary.requests, ok, ok / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout, retry))
end
