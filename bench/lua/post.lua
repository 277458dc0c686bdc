-- POST a new person to BENCH_PATH, each with a unique email
-- (bench-<run>-<thread>-<n>@example.org): /v1/patients (with the token) or
-- the public /v1/intake-submissions (BENCH_TOKEN empty; BENCH_INTAKE=1 adds
-- the form's fields: the condition as typed, and a requested call time,
-- which books a call).
dofile(os.getenv("BENCH_DIR") .. "/lua/common.lua")

local path = os.getenv("BENCH_PATH")
local run = os.getenv("BENCH_RUN")
local intake = os.getenv("BENCH_INTAKE") == "1"
local condition = "01900000-0000-7000-8000-000000000002"
local hdrs = headers({ ["Content-Type"] = "application/json" })
local n = 0

function request()
  n = n + 1
  local email = string.format("bench-%s-%d-%d@example.org", run, tid, n)
  local body
  if intake then
    body = string.format('{"channel":"contact_form","first_name":"Ann","last_name":"Lee",'
      .. '"email":"%s","phone":"+1 555 010 %04d","medical_condition":"Glioblastoma",'
      .. '"requested_call_at":"2030-01-15T10:00:00Z"}', email, n % 10000)
  else
    body = string.format('{"first_name":"Ann","last_name":"Lee","email":"%s",'
      .. '"phone":"+1 555 010 %04d","medical_condition_id":"%s"}', email, n % 10000, condition)
  end
  return wrk.format("POST", path, hdrs, body)
end
