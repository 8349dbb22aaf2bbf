-- wrk script of benchmarks/serve_load.py: each wrk thread owns one connection and plays
-- its share of the events, rank then reward for the same client-chosen event id, on an
-- open-loop schedule (event j of a thread starts at start + j * period, or at once if
-- the thread is late). Latency of each request is taken here (LuaJIT ffi clock), so
-- rank and reward are reported apart; wrk's own histogram mixes them.
--
-- Environment: RL_EVENTS (file name prefix: thread t reads <prefix><t>, one line per event,
-- "<context JSON>\t<20 click bits>"),
-- RL_CANDS (the candidates JSON), RL_RATE (events/s, all threads), RL_THREADS,
-- RL_OUT (result JSON path).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } rl_timespec;
int clock_gettime(int clk, rl_timespec *tp);
]]
local ts = ffi.new("rl_timespec")
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
local clickbits, rank_req, reward_req = {}, {}, {}
local j, phase, sent_at, n_mine = 0, "rank", 0, 0
rank_lat, reward_lat, clicks, errors, acked = {}, {}, {}, {}, { 0, 0 }
first_start, last_end = 0, 0

function init(args)
  tid = tonumber(wrk.thread:get("tid"))
  nthreads = tonumber(os.getenv("RL_THREADS"))
  period = nthreads / tonumber(os.getenv("RL_RATE"))
  local f = io.open(os.getenv("RL_CANDS"))
  local cands = f:read("*a")
  f:close()
  local headers = { ["Content-Type"] = "application/json" }
  local key = os.getenv("RL_API_KEY")
  if key and key ~= "" then headers["X-API-Key"] = key end
  -- every request is built here, before the clock starts: request() only hands them out
  for line in io.lines(os.getenv("RL_EVENTS") .. tid) do -- events tid, tid + n, tid + 2n, ...
    local ctx, bits = line:match("^(.-)\t(%d+)$")
    n_mine = n_mine + 1
    local id = "w" .. tid .. "-" .. n_mine
    clickbits[n_mine] = bits
    rank_req[n_mine] = wrk.format("POST", "/v1/rank", headers,
      '{"event_id":"' .. id .. '","context":' .. ctx .. ',"candidates":' .. cands .. '}')
    reward_req[n_mine] = { [0] = wrk.format("POST", "/v1/events/" .. id .. "/reward", headers, '{"value":0}'),
      [1] = wrk.format("POST", "/v1/events/" .. id .. "/reward", headers, '{"value":1}') }
  end
  n_mine_out = n_mine
end

function delay()
  if phase ~= "rank" then return 0 end
  if start == nil then return 0 end
  local wait = start + j * period - now()
  return wait > 0 and wait * 1000 or 0
end

function request()
  if start == nil then
    start = now() + tid * period / nthreads -- threads spread over one period
    first_start = start
  end
  if phase == "rank" then
    -- j counts answered ranks, not calls: wrk calls request() once more on thread 0 to
    -- check the script, and that request is never sent
    sent_at = now()
    return rank_req[j + 1]
  end
  sent_at = now()
  return reward_req[j][clicks[j]]
end

local function count(name)
  errors[name] = (errors[name] or 0) + 1
end

function response(status, hdrs, body)
  local t = now() - sent_at
  if phase == "rank" then
    j = j + 1
    rank_lat[j] = t
    if status == 200 then
      acked[1] = acked[1] + 1
      local k = tonumber(body:match('"chosen_id":%s*"item%-(%d+)"'))
      if k then
        clicks[j] = tonumber(clickbits[j]:sub(k + 1, k + 1))
        phase = "reward"
        return
      end
      count("rank answer without a chosen item")
    else
      count("rank " .. status) -- no reward for this event: the driver counts it as lost
    end
  else
    reward_lat[j] = t
    if status == 204 then acked[2] = acked[2] + 1 else count("reward " .. status) end
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
  local parts, t0, t1, ra, rw = {}, math.huge, 0, 0, 0
  local errs = {}
  for _, t in ipairs(threads) do
    local n = t:get("n_mine_out")
    t0 = math.min(t0, t:get("first_start"))
    t1 = math.max(t1, t:get("last_end"))
    local a = t:get("acked")
    ra, rw = ra + a[1], rw + a[2]
    for k, v in pairs(t:get("errors")) do errs[k] = (errs[k] or 0) + v end
    parts[#parts + 1] = '{"tid":' .. t:get("tid") .. ',"rank":' .. dump(t:get("rank_lat"), n) .. ',"reward":' ..
        dump(t:get("reward_lat"), n) .. ',"clicks":' .. dump(t:get("clicks"), n) .. '}'
  end
  local e = {}
  for k, v in pairs(errs) do e[#e + 1] = '"' .. k .. '":' .. v end
  local f = io.open(os.getenv("RL_OUT"), "w")
  f:write('{"elapsed_s":' .. (t1 - t0) .. ',"acked":{"decisions":' .. ra .. ',"rewards":' .. rw .. '},"errors":{' ..
      table.concat(e, ",") .. '},"threads":[' .. table.concat(parts, ",") .. '],"wrk_requests":' ..
      summary.requests .. '}')
  f:close()
end
