-- wrk script: POST the URLs of bench/urls.txt, one after the other, to /signature (or the
-- path given after the URL file); with "GET" there instead, GET each line of the file as a
-- path with its query (the LIVE routes). Prints a JSON summary line (latency percentiles in
-- microseconds) when done.
local urls = {}
local next_url = 1
local path = "/signature"

function init(args)
  if args[2] then path = args[2] end
  for line in io.lines(args[1]) do
    if line:sub(1, 1) ~= "#" and #line > 0 then urls[#urls + 1] = line end
  end
end

function request()
  local line = urls[next_url]
  next_url = next_url % #urls + 1
  if path == "GET" then return wrk.format("GET", line) end
  return wrk.format("POST", path, {["Content-Type"] = "text/plain"}, line)
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
