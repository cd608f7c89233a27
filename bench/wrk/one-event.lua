-- wrk script: POST /v1/events with an array of one tool_call event, each under a fresh
-- event_id (so none is a duplicate), `sync` durability. See BENCHMARKS.md ("HTTP ingest").
--   wrk -t1 -c64 -d10s --latency -s bench/wrk/one-event.lua http://127.0.0.1:7080

local counter = 0

local function hex(n)
  local out = {}
  for i = 1, n do
    out[i] = string.format("%x", math.random(0, 15))
  end
  return table.concat(out)
end

local function uuid()
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(12)
end

local trace = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"

function setup(thread)
  math.randomseed(os.time() + counter)
  counter = counter + 1
end

function request()
  local now = os.date("!%Y-%m-%dT%H:%M:%S") .. ".000000Z"
  local body = '[{"type":"tool_call","event_id":"' .. uuid() .. '","timestamp":"' .. now
    .. '","trace_id":"' .. trace .. '","job_id":"job-wrk","actor":"agent","payload":{'
    .. '"tool_call_id":"tc-' .. hex(12) .. '","tool_id":"fs.read","tool_version":"1.4.2",'
    .. '"transport":"mcp","side_effect":"READ","idempotency":"idempotent","ok":true,'
    .. '"args_hash":"' .. hex(64) .. '","timing":{"started_at":"' .. now .. '","ended_at":"' .. now
    .. '","duration_ms":12},"parent_span_id":"span-1"}}]'
  return wrk.format("POST", "/v1/events?durability=sync", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status ~= 200 and status ~= 201 and status ~= 202 then
    print("refused: " .. status .. " " .. body)
    wrk.thread:stop()
  end
end
