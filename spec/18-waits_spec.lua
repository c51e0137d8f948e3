-- How a Lua renderer waits for the host. With nothing but its channel to
-- wait for, its loop waits in a blocking recv() on the socket (one syscall,
-- and a quicker wake-up than epoll's; host/mh_chan.c, the prepare step);
-- with anything else active (a timer, even an unreferenced one, a request
-- of the threadpool, a child process, a signal handle) it waits in the
-- loop as before. Each spec here hangs, and fails on the guard's timeout,
-- if that choice is made wrongly; the first fails if the blocking wait is
-- never used.
local t = require("mainhost.test")

local MAIN = [==[
local mh = require("mainhost")
local ipcMain, app = mh.ipcMain, mh.app
local function say(...) print("main: " .. table.concat({ ... }, " ")) end
ipcMain.on("done", function() app.quit() end)
]==]

local RENDERER = [==[
local ipcRenderer = require("mainhost.renderer").ipcRenderer
local uv = require("luv")
]==]

-- Runs main.lua and one Lua renderer "r" (r.lua); checks that it neither
-- hung nor failed.
local function run(main, renderer, env)
  local r = t.run_app({
    ["main.lua"] = MAIN .. main,
    ["r.lua"] = RENDERER .. renderer,
    ["mainhost.json"] = { main = "main.lua", renderers = { { name = "r", script = "r.lua" } } },
  }, { timeout = 20000, env = env })
  r.all = "stdout:\n" .. r.stdout .. "\nstderr:\n" .. r.stderr
  assert.is_false(r.timed_out, "the app hung (killed by the spec's guard):\n" .. r.all)
  assert.are.equal(0, r.code, r.all)
  return r
end

-- The main script's lines, without "main: ".
local function said(r)
  local out = {}
  for _, l in ipairs(t.lines(r.stdout)) do
    local s = l:match("^main: (.*)$")
    if s then out[#out + 1] = s end
  end
  return out
end

describe("a Lua renderer's waits", function()
  after_each(t.cleanup)

  it("are a blocking recv() when it has nothing but the host to wait for", function()
    local r = run([==[
ipcMain.handle("add", function(_, a, b) return a + b end)
]==], [==[
for i = 1, 50 do assert(ipcRenderer.invoke("add", i, 1) == i + 1) end
ipcRenderer.send("done")
]==], { "MAINHOST_COUNTERS=1" })
    local turns, waits = r.stderr:match("%[r%] mainhost renderer: at exit: (%d+) loop turns, (%d+) waits in recv")
    assert(turns, "no counters line from the renderer:\n" .. r.all)
    assert(tonumber(waits) >= 50, "expected a wait in recv per invoke:\n" .. r.all)
    assert(tonumber(waits) <= tonumber(turns), r.all)
  end)

  it("let a luv timer tick while the host sends nothing", function()
    local r = run([==[
ipcMain.handle("add", function(_, a, b) return a + b end)
ipcMain.on("tick", function(_, n) say("tick", n) end)
]==], [==[
assert(ipcRenderer.invoke("add", 1, 2) == 3)
local n, tm = 0, uv.new_timer()
tm:start(1, 1, function()
  n = n + 1
  ipcRenderer.send("tick", n)
  if n == 3 then
    tm:close()
    ipcRenderer.send("done")
  end
end)
]==])
    assert.same({ "tick 1", "tick 2", "tick 3" }, said(r))
  end)

  it("let an unreferenced luv timer tick too", function()
    local r = run([==[
ipcMain.on("tick", function(_, n) say("tick", n) end)
]==], [==[
local n, tm = 0, uv.new_timer()
tm:unref()
tm:start(1, 1, function()
  n = n + 1
  ipcRenderer.send("tick", n)
  if n == 2 then
    tm:close()
    ipcRenderer.send("done")
  end
end)
]==])
    assert.same({ "tick 1", "tick 2" }, said(r))
  end)

  it("let a threadpool request (uv.fs_stat) call back", function()
    local r = run([==[
ipcMain.on("stat", function(_, kind) say("stat", kind) end)
]==], [==[
uv.fs_stat("/", function(err, st)
  ipcRenderer.send("stat", err or st.type)
  ipcRenderer.send("done")
end)
]==])
    assert.same({ "stat directory" }, said(r))
  end)

  it("let a child process's exit call back", function()
    local r = run([==[
ipcMain.on("exited", function(_, code) say("exited", code) end)
]==], [==[
local child
child = uv.spawn("sh", { args = { "-c", "exit 7" } }, function(code)
  child:close()
  ipcRenderer.send("exited", code)
  ipcRenderer.send("done")
end)
]==])
    assert.same({ "exited 7" }, said(r))
  end)

  it("let a signal handle run", function()
    local r = run([==[
ipcMain.on("signal", function(_, name) say("signal", name) end)
]==], [==[
local sig = uv.new_signal()
sig:start("sigusr1", function(name)
  sig:close()
  ipcRenderer.send("signal", name)
  ipcRenderer.send("done")
end)
uv.kill(uv.os_getpid(), "sigusr1")
]==])
    assert.same({ "signal sigusr1" }, said(r))
  end)

  it("never block a top level that turns the loop itself with uv.run('nowait')", function()
    local r = run([==[
ipcMain.on("turned", function(_, n) say("turned", n) end)
]==], [==[
local n = 0
for _ = 1, 100 do
  uv.run("nowait")
  n = n + 1
end
ipcRenderer.send("turned", n)
ipcRenderer.send("done")
]==])
    assert.same({ "turned 100" }, said(r))
  end)

  it("block in recv for a sendSync from a timer callback, and deliver what came meanwhile afterwards", function()
    local r = run([==[
ipcMain.on("sync", function(e)
  e.sender.send("during", 1)
  e.returnValue = "answer"
end)
ipcMain.on("got", function(_, what) say("got", what) end)
]==], [==[
ipcRenderer.on("during", function(_, n)
  ipcRenderer.send("got", "during " .. n)
  ipcRenderer.send("done")
end)
local tm = uv.new_timer()
tm:start(1, 0, function()
  tm:close()
  ipcRenderer.send("got", ipcRenderer.sendSync("sync"))
end)
]==])
    assert.same({ "got answer", "got during 1" }, said(r))
  end)
end)
