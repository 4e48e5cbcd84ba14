-- wrk script: each thread owns one session and rotates its refresh token sequentially
-- (run with -t N -c N so every connection has its own token chain; a shared token would be
-- reuse and revoke the session). Tokens and the envelope signature come from bench/refresh.sh.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local signature = os.getenv("ENVELOPE_SIG")
local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", counter)
  thread:set("token", tokens[counter])
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  failures = 0
end

function request()
  return wrk.format("POST", "/auth/refresh", {
    ["Content-Type"] = "application/json",
    ["X-Auth-Signature"] = signature,
  }, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    token = body:match('"refresh_token":"([^"]+)"')
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do f = f + t:get("failures") end
  io.write(string.format("non-200 responses: %d\n", f))
end
