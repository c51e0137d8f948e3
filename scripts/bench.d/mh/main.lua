-- The mainhost bench app's main script: the same work as the Node
-- baseline's parent (scripts/bench.d/node/parent.js), through the public
-- API only. BENCH_MODE and the other BENCH_* variables come from the
-- driver (renderers inherit them); results are "BENCH {json}" lines.
local mh = require("mainhost")
local uv = require("luv")
local ipcMain = mh.ipcMain

local mode = os.getenv("BENCH_MODE")
local nrend = tonumber(os.getenv("BENCH_RENDERERS") or "1")

-- invoke round trips: small arguments, a plain handler.
ipcMain.handle("add", function(_, a, b) return a + b end)

-- sendSync round trips.
ipcMain.on("add-sync", function(event, a, b) event.returnValue = a + b end)

-- one-way streams: a listener that looks at the payload; "count" is
-- invoked after the last send, so its reply means every send was handled.
local count, bytes = 0, 0
ipcMain.on("data", function(_, s)
  count = count + 1
  bytes = bytes + #s
end)
ipcMain.handle("count", function()
  local c, b = count, bytes
  count, bytes = 0, 0
  return c, b
end)

-- start-up: the first message handled, stamped with CLOCK_MONOTONIC (the
-- clock the driver's exec-timed T0 reads).
ipcMain.once("first", function()
  print("FIRST " .. uv.hrtime())
  mh.app.quit()
end)

-- Every renderer says ready; all start on one "go" (or, idle, just wait).
local ready, done = 0, 0
ipcMain.on("ready", function()
  ready = ready + 1
  if ready < nrend then return end
  if mode == "idle" then
    print("READY " .. uv.os_getpid())
    return
  end
  for _, wc in ipairs(mh.webContents.getAllWebContents()) do wc.send("go") end
end)

ipcMain.on("done", function(_, result)
  print("BENCH " .. result)
  done = done + 1
  if done == nrend then mh.app.quit() end
end)
