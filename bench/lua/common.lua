-- Shared by every scenario (loaded with dofile): the bearer token, thread
-- numbering, reading id files, and the one machine-readable RESULT line that
-- bench/run.sh parses.
--
-- Environment: BENCH_TOKEN (bearer token; absent: no Authorization header),
-- BENCH_THREADS (wrk -t).

token = os.getenv("BENCH_TOKEN")
nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

-- Headers for requests built with wrk.format (which replaces wrk.headers
-- when given a table, so the token is repeated here).
function headers(extra)
  local h = {}
  if token and token ~= "" then h["Authorization"] = "Bearer " .. token end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end
wrk.headers = headers()

function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then lines[#lines + 1] = line end
  end
  return lines
end

-- Thread numbering (0-based), set in each thread's Lua state as `tid`.
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

-- Per-thread counter of 412 responses (scripts that define response()).
s412 = 0

function done(summary, latency, requests)
  local e = summary.errors
  local n412 = 0
  for _, t in ipairs(threads) do n412 = n412 + (t:get("s412") or 0) end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d status_errors=%d socket_errors=%d s412=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout, n412))
end
