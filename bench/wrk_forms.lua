-- POSTed forms (the OAuth endpoints): wrk -s bench/wrk_forms.lua <url> -- <file> <mode> <start> [<basic>]
-- Each line of <file> is "<path> <form body>". Mode "random": a random line per request; "once":
-- the lines in order from line <start> + 1, each once (a refresh token, a token to revoke: used up
-- by its request; the runner moves <start> past what a run used). <basic>: an Authorization: Basic
-- credential sent with every request. Requests are formatted once, in init.
local requests = {}
local once = false
local index = 0
used = 0 -- lines taken so far (global: done() reads it from each thread); wrk may take a line and
-- not send it (a write it retries takes a new one), so the runner moves on by this, not by answers
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file, mode, start, basic = args[1], args[2], tonumber(args[3]), args[4]
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  if basic and basic ~= "" then
    headers["Authorization"] = "Basic " .. basic
  end
  for line in io.lines(file) do
    local path, body = line:match("^(%S+) (%S+)$")
    if path then
      requests[#requests + 1] = wrk.format("POST", path, headers, body)
    end
  end
  if #requests == 0 then
    error("no forms in " .. file)
  end
  once = mode == "once"
  index = start or 0
  math.randomseed(os.time())
end

function request()
  used = used + 1
  if once then
    index = index + 1
    -- Past the end a line would be used twice (and refused): the runner stops before that.
    return requests[(index - 1) % #requests + 1]
  end
  return requests[math.random(#requests)]
end

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "wrk_report.lua")
local report = done

function done(summary, latency, requests)
  local taken = 0
  for _, thread in ipairs(threads) do
    taken = taken + (thread:get("used") or 0)
  end
  io.write(string.format("BENCH_USED %d\n", taken))
  report(summary, latency, requests)
end
