-- The mainhost bench app's Lua renderer: the same work as the Node
-- baseline's child (scripts/bench.d/node/child.js), through ipcRenderer
-- only. Latencies are per call, from luv's uv.hrtime().
local ipcRenderer = require("mainhost.renderer").ipcRenderer
local uv = require("luv")

local mode = os.getenv("BENCH_MODE")
local dur_ns = math.floor(tonumber(os.getenv("BENCH_DUR_MS") or "1000") * 1e6)
local warm_ns = math.floor(tonumber(os.getenv("BENCH_WARM_MS") or "200") * 1e6)
local hrtime = uv.hrtime

-- The split variant: this renderer on its own CPU (the host is pinned
-- elsewhere by the driver).
local cpu = os.getenv("BENCH_CHILD_CPU")
if cpu and cpu ~= "" then
  os.execute(("taskset -a -p -c %d %d >/dev/null"):format(tonumber(cpu), uv.os_getpid()))
end

local function pct(sorted, p)
  local n = #sorted
  if n == 0 then return 0 end
  local k = math.max(1, math.ceil(p * n))
  return sorted[math.min(k, n)]
end

-- Timed round trips of call() for dur_ns after warm_ns of warm-up.
local function round_trips(call)
  local start = hrtime()
  local mstart = start + warm_ns
  local stop = mstart + dur_ns
  local lat, n = {}, 0
  local t = start
  while t < stop do
    local t0 = hrtime()
    local r = call()
    t = hrtime()
    if r ~= 5 then error("bad reply " .. tostring(r)) end
    if t0 >= mstart then
      n = n + 1
      lat[n] = (t - t0) / 1000
    end
  end
  table.sort(lat)
  return ('{"n":%d,"secs":%.6f,"p50_us":%.3f,"p99_us":%.3f}'):format(
    n, (t - mstart) / 1e9, pct(lat, 0.50), pct(lat, 0.99))
end

local function stream()
  local size = tonumber(os.getenv("BENCH_SIZE"))
  local count = tonumber(os.getenv("BENCH_COUNT"))
  local payload = ("x"):rep(size)
  local send = ipcRenderer.send
  -- A warm-up pass of a tenth, then the timed pass, as the Node child does.
  for _ = 1, math.max(1, count // 10) do send("data", payload) end
  ipcRenderer.invoke("count")
  local t0 = hrtime()
  for _ = 1, count do send("data", payload) end
  local got, bytes = ipcRenderer.invoke("count")
  local secs = (hrtime() - t0) / 1e9
  if got ~= count or bytes ~= count * size then
    error(("main counted %s of %d messages"):format(tostring(got), count))
  end
  return ('{"n":%d,"size":%d,"secs":%.6f,"msg_s":%.1f,"mb_s":%.3f}'):format(
    count, size, secs, count / secs, count * size / secs / 1e6)
end

if mode == "startup" then
  ipcRenderer.send("first")
  return
end

ipcRenderer.on("go", function()
  local result
  if mode == "stream" then
    result = stream()
  elseif mode == "sync" then
    local sendSync = ipcRenderer.sendSync
    result = round_trips(function() return sendSync("add-sync", 2, 3) end)
  else -- invoke, conc
    local invoke = ipcRenderer.invoke
    result = round_trips(function() return invoke("add", 2, 3) end)
  end
  ipcRenderer.send("done", result)
end)
ipcRenderer.send("ready")
