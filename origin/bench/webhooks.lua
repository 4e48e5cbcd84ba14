-- wrk script: replays pre-signed webhook deliveries (one fresh event id and envelope HMAC per
-- request, computed by bench/webhooks.sh just before the run); thread i sends lines i, i+T, ...
-- The envelope signs the x-auth-* headers, not the body, so the body is a template with the id.
local lines = {}
for line in io.lines(os.getenv("DELIVERIES_FILE")) do lines[#lines + 1] = line end
local template = io.open(os.getenv("BODY_FILE")):read("*a")
local provider = os.getenv("PROVIDER")
local threads, counter, nthreads = {}, 0, tonumber(os.getenv("THREADS"))

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  pos = tid + 1
  accepted, duplicate, other = 0, 0, 0
end

function request()
  local line = lines[pos]
  pos = pos + nthreads
  if pos > #lines then pos = tid + 1 end
  local id, ts, sig = line:match("^(%S+) (%S+) (%S+)$")
  return wrk.format("POST", "/webhooks/" .. provider, {
    ["Content-Type"] = "application/json",
    ["X-Auth-Webhook-Provider"] = provider,
    ["X-Auth-Webhook-Id"] = id,
    ["X-Auth-Webhook-Timestamp"] = ts,
    ["X-Auth-Signature"] = sig,
  }, (template:gsub("EVENT_ID", id)))
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1
  elseif status == 200 then duplicate = duplicate + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local a, d, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); d = d + t:get("duplicate"); o = o + t:get("other")
  end
  io.write(string.format("202 accepted: %d   200 duplicate: %d   other: %d   accepted/s: %.0f\n",
    a, d, o, a / (summary.duration / 1e6)))
end
