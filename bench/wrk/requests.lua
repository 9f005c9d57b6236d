-- One request shape for wrk, with bearer tokens rotated per request.
--
--   wrk -t T -c C -d 5s -s requests.lua URL -- METHOD PATH TOKENS|- BODY|- T OFFSET [record-ids|-] [RATE]
--
-- TOKENS is a file with one token a line ("-": no Authorization header); BODY a JSON body
-- file ("-": none). A line "TOKEN<TAB>PROOF" is a DPoP request (RFC 9449): it is sent
-- as "Authorization: DPoP TOKEN" with "DPoP: PROOF"; the file then holds one proof per
-- request to send (a proof is accepted once), so it must not be walked twice. Each wrk thread takes its own slice of the token file (line k goes to
-- thread k mod T), so two threads never send the same token at the same moment, and a
-- token comes back only after its thread has walked its whole slice; OFFSET (requests
-- each thread already sent in earlier runs) continues the walk where the last run of
-- the same variant stopped instead of replaying its first tokens. Requests are built
-- once in init(), so wrk spends no time formatting them during the run. done() prints
-- one BENCH_JSON line that the Python harness reads.
--
-- With RATE (requests per second, all threads together) the load is paced: each thread
-- sends its requests on an absolute schedule of RATE / T a second (wrk's delay() hook,
-- timed with the monotonic clock through LuaJIT's FFI), one in flight per connection at
-- most. wrk rounds each delay down to whole milliseconds, so a single send may go up to
-- 1 ms early; the schedule being absolute, the average rate holds. Without RATE, each
-- connection sends its next request as soon as the answer arrives (the server
-- saturated). A server too slow for RATE falls behind the schedule; the harness reports
-- the rate reached.
--
-- With "record-ids" (write benches), every 201 answer's "id" is kept and done() prints
-- them on BENCH_IDS lines, so the harness can check that each acknowledged row is stored.
-- Only then is response() defined: wrk parses bodies only for scripts that define it.

local next_thread = 0
local threads_ = {}

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
  threads_[#threads_ + 1] = thread
end

ids = {}           -- ids of the rows this thread saw acknowledged (201)
not_created = 0    -- 2xx answers other than 201, or a 201 without an id

local function record(status, headers, body)
  if status ~= 201 then
    not_created = not_created + 1
    return
  end
  local location = headers["Location"] or headers["location"] or ""
  local id = body:match('"id"%s*:%s*(%d+)') or location:match("/(%d+)$")
  if id then ids[#ids + 1] = id else not_created = not_created + 1 end
end

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local interval_ms = nil  -- paced loads: this thread's time between two requests
local next_slot = nil

-- Called by wrk before each request when defined: the milliseconds to wait first. Each
-- request takes the next slot of the schedule; a thread that fell more than a second
-- behind starts the schedule again from now instead of sending a burst.
local function paced_delay()
  local now = now_ms()
  if next_slot == nil or next_slot < now - 1000 then next_slot = now end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  if wait < 0 then return 0 end
  return wait
end

local requests_ = {}
local count = 0
local position = 0

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

function init(args)
  local method, path, tokens_path, body_path = args[1], args[2], args[3], args[4]
  local threads = tonumber(args[5]) or 1
  local offset = tonumber(args[6]) or 0
  local body = nil
  local base = {}
  if body_path ~= "-" then
    body = read_all(body_path)
    base["Content-Type"] = "application/json"
  end
  local function build(token)
    local headers = {}
    for k, v in pairs(base) do headers[k] = v end
    if token then
      local bound, proof = token:match("^([^\t]+)\t(.+)$")
      if bound then
        headers["Authorization"] = "DPoP " .. bound
        headers["DPoP"] = proof
      else
        headers["Authorization"] = "Bearer " .. token
      end
    end
    return wrk.format(method, path, headers, body)
  end
  if tokens_path == "-" then
    requests_[1] = build(nil)
  else
    local tokens = {}
    for line in io.lines(tokens_path) do
      if line ~= "" then tokens[#tokens + 1] = line end
    end
    for k, token in ipairs(tokens) do
      -- fewer tokens than threads (one repeated token): every thread sends them all
      if #tokens < threads or (k - 1) % threads == thread_index then
        requests_[#requests_ + 1] = build(token)
      end
    end
  end
  count = #requests_
  assert(count > 0, "no requests for this thread")
  position = offset % count
  if args[7] == "record-ids" then response = record end
  local rate = tonumber(args[8] or "")
  if rate then
    assert(rate > 0, "RATE must be positive")
    interval_ms = 1000 * threads / rate
    delay = paced_delay
  end
end

function request()
  position = position % count + 1
  return requests_[position]
end

function done(summary, latency, requests)
  local e = summary.errors
  local created, not_created_all = 0, 0
  for _, thread in ipairs(threads_) do
    local thread_ids = thread:get("ids") or {}
    created = created + #thread_ids
    not_created_all = not_created_all + (thread:get("not_created") or 0)
    for first = 1, #thread_ids, 1000 do
      io.write("BENCH_IDS " .. table.concat(thread_ids, ",", first, math.min(first + 999, #thread_ids)) .. "\n")
    end
  end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "errors_status": %d, '
      .. '"errors_connect": %d, "errors_read": %d, "errors_write": %d, '
      .. '"errors_timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"created": %d, "not_created": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    created, not_created_all))
end
