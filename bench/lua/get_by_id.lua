-- GET /v1/{BENCH_COLLECTION}/{id}{BENCH_SUFFIX} (patients by default) for
-- random ids from BENCH_IDS (a sample of the seeded records). Requests are built once per thread, so
-- the load generator spends its CPU on sending, not on Lua.
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")

local suffix = os.getenv("BENCH_SUFFIX") or ""
local collection = os.getenv("BENCH_COLLECTION") or "patients"
local requests, n

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  requests = {}
  for _, id in ipairs(read_lines(os.getenv("BENCH_IDS"))) do
    requests[#requests + 1] = wrk.format("GET", "/v1/" .. collection .. "/" .. id .. suffix)
  end
  n = #requests
end

function request()
  return requests[math.random(n)]
end
