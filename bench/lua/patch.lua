-- PATCH /v1/patients/{id} with If-Match, for ids from BENCH_IDS split
-- between threads (no two threads share an id) and taken in turn within a
-- thread, skipping any id whose previous PATCH is still unanswered (a slow
-- request, e.g. one waiting for SQLite's write lock, must not be overtaken
-- by a second PATCH of the same record). The version sent is the one the
-- last answer for that id carried (seeded records start at 1), so no PATCH
-- should be stale; a 412 is still counted apart. The first name alternates
-- so each PATCH is a real change (a PATCH that changes nothing keeps the
-- version).
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")

local ids, versions, pending, i = {}, {}, {}, 0

function init(args)
  for k, id in ipairs(read_lines(os.getenv("BENCH_IDS"))) do
    if (k - 1) % nthreads == tid then
      ids[#ids + 1] = id
      versions[id] = 1
    end
  end
end

function request()
  -- At most one turn round the ids: once every id is pending (each of its
  -- PATCHes failed, e.g. a second run on records the first one changed),
  -- an unbounded search would hold wrk's event loop, and wrk never stops.
  -- The next id is then sent anyway, and its failure counted.
  local id
  for _ = 1, #ids do
    i = i % #ids + 1
    id = ids[i]
    if not pending[id] then break end
  end
  pending[id] = true
  local v = versions[id]
  local name = (v % 2 == 1) and "Patcha" or "Patchb"
  return wrk.format("PATCH", "/v1/patients/" .. id,
    headers({ ["If-Match"] = '"' .. v .. '"', ["Content-Type"] = "application/json" }),
    '{"first_name":"' .. name .. '"}')
end

-- Only a 200 names its record; an id whose PATCH failed stays pending
-- (left out for the rest of the run).
function response(status, hdrs, body)
  if status == 200 then
    local id = body:match('"id":"([^"]+)"')
    local v = tonumber(body:match('"version":(%d+)'))
    if id and v then
      versions[id] = v
      pending[id] = nil
    end
  elseif status == 412 then
    s412 = s412 + 1
  end
end
