-- wrk script: GET /api/v1/jobs/available as authenticated workers (bench/api_load.py).
--
--   wrk -t1 -c32 -d15s --latency -s bench/lua/available.lua http://HOST:PORT/api/v1/jobs/available -- TOKENS
--
-- TOKENS: a file of worker access tokens, one per line. Each request carries the next token
-- (rotating; every thread starts at another place in the list). done() prints one line
-- "BENCH {json}" with the totals and latency percentiles (microseconds) for the script.

local tokens = {}
local cursor = 0
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
  assert(#tokens > 0, "no tokens in " .. args[1])
  cursor = (thread_index or 0) * 397 % #tokens
end

function request()
  cursor = cursor % #tokens + 1
  return wrk.format(nil, nil, { Authorization = tokens[cursor] })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"duration_us": %d, "requests": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "non_2xx_3xx": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
