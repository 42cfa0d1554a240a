-- wrk script: GET the paths of a file (one a line, e.g. /webcast/fetch?room_id=...), one
-- after the other, and print a JSON summary line (latency percentiles in microseconds).
local paths = {}
local next_path = 1

function init(args)
  for line in io.lines(args[1]) do
    if line:sub(1, 1) ~= "#" and #line > 0 then paths[#paths + 1] = line end
  end
end

function request()
  local path = paths[next_path]
  next_path = next_path % #paths + 1
  return wrk.format("GET", path)
end

function done(summary, latency, _requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
