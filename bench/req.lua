-- wrk script: the request comes from bench/out/req/<BENCH_REQ>.{method,headers,body};
-- at the end it prints one machine-readable line for bench/report.mjs.
local dir = os.getenv("BENCH_REQ_DIR")
local name = os.getenv("BENCH_REQ")
local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a"); f:close(); return s
end
wrk.method = slurp(dir .. "/" .. name .. ".method") or "GET"
for line in (slurp(dir .. "/" .. name .. ".headers") or ""):gmatch("[^\n]+") do
  local k, v = line:match("^([^:]+):%s*(.*)$")
  if k then wrk.headers[k] = v end
end
wrk.body = slurp(dir .. "/" .. name .. ".body")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p99_us":%d,"non2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
