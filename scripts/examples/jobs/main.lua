-- A job queue served to a pool of three Node.js workers (worker.js, using
-- clients/node/ipc-renderer.js).
--
-- Each worker first invokes 'join'. That handler waits (a plain
-- coroutine.yield) until the whole pool has joined, so no worker starts
-- before the others are up. Then each worker invokes 'next-job' in a loop,
-- does the job, and sends back a 'result'. When the queue is empty a worker
-- gets nil (null in Node), says 'bye' and stops. A worker's messages are
-- handled in order, so once every worker has said bye every result is in:
-- the main process prints the total and quits.
local mh = require("mainhost")
local ipcMain, webContents = mh.ipcMain, mh.webContents

local JOBS = 12
local queue = {}
for i = 1, JOBS do queue[i] = { id = i, n = i } end -- the job: square n
local next_job, results, total, byes = 1, 0, 0, 0

local function pool_size() return #webContents.getAllWebContents() end

local joined = {} -- coroutines of the 'join' handlers still waiting
ipcMain.handle("join", function(event)
  print(("main: %s joined"):format(event.sender.name))
  joined[#joined + 1] = coroutine.running()
  if #joined < pool_size() then
    coroutine.yield() -- resumed by the last worker to join; the reply goes when we return
  else
    local waiting = joined
    joined = {}
    for i = 1, #waiting - 1 do coroutine.resume(waiting[i]) end
  end
  return JOBS
end)

ipcMain.handle("next-job", function(event)
  local job = queue[next_job]
  if not job then return nil end
  next_job = next_job + 1
  return job
end)

ipcMain.on("result", function(event, id, value)
  results = results + 1
  total = total + value
  print(("main: job %d = %d (from %s)"):format(id, value, event.sender.name))
end)

ipcMain.on("bye", function(event, done)
  byes = byes + 1
  print(("main: %s stops after %d jobs"):format(event.sender.name, done))
  if byes == pool_size() then
    print(("main: %d of %d jobs done, total %d"):format(results, JOBS, total))
    mh.app.quit()
  end
end)
