-- wrk script of benchmarks/personalizer.py (the latency part): each wrk thread owns one
-- connection and plays its share of the events, each a rank then the reward of the same
-- client-chosen event id, on an open-loop schedule (event j of a thread starts at
-- start + j * period, or at once if the thread is late). /v1 and /personalizer events
-- alternate in the files the driver writes, so both APIs meet the same load, connections
-- and client. Every request is timed here (LuaJIT ffi clock), rank and reward apart.
--
-- Environment: PZ_EVENTS (file name prefix: thread t reads <prefix><t>, one line per event,
-- "<rank path>\t<rank body>\t<reward path>"), PZ_KEY (sent as X-API-Key and as
-- Ocp-Apim-Subscription-Key), PZ_RATE (events/s, all threads), PZ_THREADS, PZ_OUT (result JSON).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } pz_timespec;
int clock_gettime(int clk, pz_timespec *tp);
]]
local ts = ffi.new("pz_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local tid, nthreads, period, start
local rank_req, reward_req = {}, {}
local j, phase, sent_at, n_mine = 0, "rank", 0, 0
rank_lat, reward_lat, errors = {}, {}, {}
first_start, last_end = 0, 0

function init(args)
  tid = tonumber(wrk.thread:get("tid"))
  nthreads = tonumber(os.getenv("PZ_THREADS"))
  period = nthreads / tonumber(os.getenv("PZ_RATE"))
  local key = os.getenv("PZ_KEY") or ""
  local headers = { ["Content-Type"] = "application/json", ["X-API-Key"] = key,
    ["Ocp-Apim-Subscription-Key"] = key }
  -- every request is built here, before the clock starts: request() only hands them out
  for line in io.lines(os.getenv("PZ_EVENTS") .. tid) do -- events tid, tid + n, tid + 2n, ...
    local rank_path, body, reward_path = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
    n_mine = n_mine + 1
    rank_req[n_mine] = wrk.format("POST", rank_path, headers, body)
    reward_req[n_mine] = wrk.format("POST", reward_path, headers, '{"value":1}')
  end
  n_mine_out = n_mine
end

function delay()
  if phase ~= "rank" or start == nil then return 0 end
  local wait = start + j * period - now()
  return wait > 0 and wait * 1000 or 0
end

function request()
  if start == nil then
    start = now() + tid * period / nthreads -- threads spread over one period
    first_start = start
  end
  -- j counts answered ranks, not calls: wrk calls request() once more on thread 0 to
  -- check the script, and that request is never sent
  sent_at = now()
  if phase == "rank" then return rank_req[j + 1] end
  return reward_req[j]
end

local function count(name)
  errors[name] = (errors[name] or 0) + 1
end

function response(status, hdrs, body)
  local t = now() - sent_at
  if phase == "rank" then
    j = j + 1
    rank_lat[j] = t
    if status == 200 or status == 201 then -- /v1 answers 200, Personalizer 201
      phase = "reward"
      return
    end
    count("rank " .. status) -- no reward for this event
  else
    reward_lat[j] = t
    if status ~= 204 then count("reward " .. status) end
    phase = "rank"
  end
  if j >= n_mine then
    last_end = now()
    wrk.thread:stop()
  end
end

local function dump(t, n)
  local out = {}
  for i = 1, n do out[i] = t[i] and string.format("%.7f", t[i]) or "null" end
  return "[" .. table.concat(out, ",") .. "]"
end

function done(summary, latency, requests)
  local parts, t0, t1, errs = {}, math.huge, 0, {}
  for _, t in ipairs(threads) do
    local n = t:get("n_mine_out")
    t0 = math.min(t0, t:get("first_start"))
    t1 = math.max(t1, t:get("last_end"))
    for k, v in pairs(t:get("errors")) do errs[k] = (errs[k] or 0) + v end
    parts[#parts + 1] = '{"tid":' .. t:get("tid") .. ',"rank":' .. dump(t:get("rank_lat"), n) .. ',"reward":' ..
        dump(t:get("reward_lat"), n) .. '}'
  end
  local e = {}
  for k, v in pairs(errs) do e[#e + 1] = '"' .. k .. '":' .. v end
  local f = io.open(os.getenv("PZ_OUT"), "w")
  f:write('{"elapsed_s":' .. (t1 - t0) .. ',"errors":{' .. table.concat(e, ",") .. '},"threads":[' ..
      table.concat(parts, ",") .. ']}')
  f:close()
end
