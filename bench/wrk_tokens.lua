-- A random token per request: wrk -s bench/wrk_tokens.lua <url> -- <file> <prefix> <suffix>
-- Each line of <file> is "<tenant slug> <token>"; a request is GET <prefix><slug><suffix> with that
-- Bearer token. Requests are formatted once, in init, so the per-request Lua cost is one random pick.
local requests = {}

function init(args)
  local file, prefix, suffix = args[1], args[2], args[3]
  for line in io.lines(file) do
    local slug, token = line:match("^(%S+) (%S+)$")
    if slug then
      requests[#requests + 1] = wrk.format("GET", prefix .. slug .. suffix, {Authorization = "Bearer " .. token})
    end
  end
  if #requests == 0 then
    error("no tokens in " .. file)
  end
  math.randomseed(os.time())
end

function request()
  return requests[math.random(#requests)]
end

-- done(): the same one-line JSON summary as the plain runs, from the file next to this one.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "wrk_report.lua")
