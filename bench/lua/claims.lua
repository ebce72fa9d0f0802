-- wrk script: claims by many workers at once (bench/api_load.py): POST /api/v1/jobs/{id}/assign
-- or POST /api/v1/jobs/claim-next.
--
--   wrk -t1 -c200 -d13s --timeout 60s --latency -s bench/lua/claims.lua http://HOST:PORT \
--       -- TOKENS PLAN THREADS SECONDS
--
-- TOKENS: worker access tokens, one per line. PLAN: one claim attempt per line,
-- "<token line number> <job id>" (made by api_load.py: a random job the worker may claim,
-- never the same job twice for one worker, so a 200 is always a new claim and a collision
-- between two workers a 409), or "<token line number> next" for a claim-next (the server
-- picks; 204 when it has nothing for the worker). Thread i of THREADS sends plan lines i+1,
-- i+1+THREADS, ...
--
-- Claims are sent for SECONDS from a thread's first request; then delay() parks every
-- connection, so the requests in flight finish and wrk's count of 200s is every claim the
-- server made (give wrk -d enough seconds more than SECONDS; "unanswered" in the output,
-- claims sent but never answered, must be 0). Status codes are counted per
-- thread in response(); done() adds them up over the threads (thread:get) and prints one
-- line "BENCH {json}" (times in microseconds; window_s from the first claim sent to the
-- last claim answered).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local threads = {}
local plan_tokens, plan_paths = {}, {}
local cursor = 0
local seconds = 10
local PARKED_MS = 3600 * 1000

-- read by done() through thread:get
started, last_answer, out_of_plan, sent, answered = 0, 0, 0, 0, 0
c200, c204, c409, c403, c4xx, c5xx, cother = 0, 0, 0, 0, 0, 0, 0

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local tokens = {}
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
  local count = tonumber(args[3] or "1")
  seconds = tonumber(args[4] or "10")
  local n = 0
  for line in io.lines(args[2]) do
    if n % count == (thread_index or 0) then
      local who, job = line:match("^(%d+) (%w+)$")
      plan_tokens[#plan_tokens + 1] = assert(tokens[tonumber(who)], "no token " .. who)
      plan_paths[#plan_paths + 1] =
        job == "next" and "/api/v1/jobs/claim-next" or "/api/v1/jobs/" .. job .. "/assign"
    end
    n = n + 1
  end
  assert(#plan_paths > 0, "empty plan " .. args[2])
end

local function sending()
  if started == 0 then started = now() end
  if cursor >= #plan_paths then
    out_of_plan = 1
    return false
  end
  return now() - started < seconds
end

-- wrk asks delay() before every request (this script has one): 0 ms while claims are sent,
-- then an hour, longer than the run, so the connection stays quiet.
function delay()
  return sending() and 0 or PARKED_MS
end

function request()
  if started == 0 then
    -- wrk's own check of the request format, before the run (and before any delay()):
    -- build one without taking it from the plan or counting it as sent
    return wrk.format("POST", plan_paths[1], { Authorization = plan_tokens[1] }, "")
  end
  if cursor >= #plan_paths then out_of_plan = 1 end
  cursor = math.min(cursor + 1, #plan_paths)
  sent = sent + 1
  return wrk.format("POST", plan_paths[cursor], { Authorization = plan_tokens[cursor] }, "")
end

function response(status, headers, body)
  last_answer = now()
  answered = answered + 1
  if status == 200 then c200 = c200 + 1
  elseif status == 204 then c204 = c204 + 1
  elseif status == 409 then c409 = c409 + 1
  elseif status == 403 then c403 = c403 + 1
  elseif status >= 400 and status < 500 then c4xx = c4xx + 1
  elseif status >= 500 then c5xx = c5xx + 1
  else cother = cother + 1 end
end

function done(summary, latency, requests)
  local t = {
    c200 = 0, c204 = 0, c409 = 0, c403 = 0, c4xx = 0, c5xx = 0, cother = 0, out_of_plan = 0,
    sent = 0, answered = 0,
  }
  local first, last = math.huge, 0
  for _, thread in ipairs(threads) do
    for name, _ in pairs(t) do t[name] = t[name] + (thread:get(name) or 0) end
    local s = thread:get("started") or 0
    if s > 0 and s < first then first = s end
    last = math.max(last, thread:get("last_answer") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"duration_us": %d, "window_s": %.4f, "requests": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "non_2xx_3xx": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"status_200": %d, "status_204": %d, "status_409": %d, "status_403": %d, "status_other_4xx": %d, ' ..
    '"status_5xx": %d, "status_other": %d, "threads_out_of_plan": %d, "sent": %d, ' ..
    '"unanswered": %d}\n',
    summary.duration, math.max(last - first, 0), summary.requests, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, t.c200, t.c204, t.c409, t.c403, t.c4xx,
    t.c5xx, t.cother, t.out_of_plan, t.sent, t.sent - t.answered))
end
