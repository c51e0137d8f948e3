-- How a Lua renderer waits. Once its top level has run, and while nothing
-- but its channel could wake it, the renderer's loop waits for the host in
-- a blocking recv() on the socket (one syscall, and a quicker wake-up than
-- epoll's; host/mh_chan.c, the prepare step). With anything else active (a
-- timer, even an unreferenced one; a handle being closed; a threadpool
-- request; a child process; a signal handle; uv.stop()) it waits in the
-- loop as before.
--
-- Each of those is started here from a listener, while the renderer is
-- already waiting in recv (after a round trip), so that the next wait has
-- to notice it: each spec hangs, and fails on the guard's timeout, if the
-- check that covers its case is removed (uv_backend_timeout: closing
-- handles, uv.stop; active requests: fs_stat; the handle walk: child
-- process, signal; timers: either). The first spec fails if recv is never
-- used; the clock spec if the loop's clock is not brought up to date after
-- a wait; the sendSync-from-a-timer spec if it is brought up to date after
-- a sendSync's wait; the last if a uv.run nested in a listener can wait.
local t = require("mainhost.test")
local S = require("support.app")

-- support.app's prelude (`say`, `quit_on`), and what every app here does.
local MAIN = S.MAIN_PRELUDE .. [==[
local app = mh.app
quit_on("done")
ipcMain.on("say", function(_, ...) say(...) end)
ipcMain.handle("add", function(_, a, b) return a + b end)
-- "go" once the renderer is ready (after its first round trip).
ipcMain.on("ready", function(e) e.sender.send("go") end)
]==]

-- The renderer: BODY runs in the listener of "go", which the main script
-- sends once the renderer's top level has made a round trip and said
-- "ready": by then its loop is waiting in recv.
local RENDERER = [==[
local ipcRenderer = require("mainhost.renderer").ipcRenderer
local uv = require("luv")
local function say(...) ipcRenderer.send("say", ...) end
local function done() ipcRenderer.send("done") end
ipcRenderer.on("go", function()
%s
end)
assert(ipcRenderer.invoke("add", 1, 2) == 3)
ipcRenderer.send("ready")
]==]

-- Runs main.lua (MAIN .. main) and one Lua renderer "r" (RENDERER around
-- body); checks that it neither hung nor failed.
local function run(main, body, env)
  local r = t.run_app({
    ["main.lua"] = MAIN .. main,
    ["r.lua"] = RENDERER:format(body),
    ["mainhost.json"] = { main = "main.lua", renderers = { { name = "r", script = "r.lua" } } },
  }, { timeout = 20000, env = env })
  r.all = "stdout:\n" .. r.stdout .. "\nstderr:\n" .. r.stderr
  assert.is_false(r.timed_out, "the app hung (killed by the spec's guard):\n" .. r.all)
  assert.are.equal(0, r.code, r.all)
  return r
end

-- The main script's lines, without "main: ".
local function said(r) return S.said(r, "main") end

-- The renderer's counters (MAINHOST_COUNTERS=1): loop turns, waits in
-- recv, invokes answered in place, waits that spun, of them answered while
-- spinning.
local function counters(r)
  local turns, waits, in_place, spins, hits = r.stderr:match("%[r%] mainhost renderer: at exit: (%d+) loop turns, "
    .. "(%d+) waits in recv, (%d+) invokes answered in place, (%d+) spins, (%d+) answered while spinning")
  assert(turns, "no counters line from the renderer:\n" .. r.all)
  return tonumber(turns), tonumber(waits), tonumber(in_place), tonumber(spins), tonumber(hits)
end

describe("a Lua renderer's waits", function()
  after_each(t.cleanup)

  it("are a blocking recv() when it has nothing but the host to wait for", function()
    local r = run("", [==[
  for i = 1, 50 do assert(ipcRenderer.invoke("add", i, 1) == i + 1) end
  done()
]==], { "MAINHOST_COUNTERS=1" })
    local turns, waits = counters(r)
    assert(waits >= 50, "expected a wait in recv per invoke:\n" .. r.all)
    assert(waits <= turns, r.all)
  end)

  it("may spin before they block when they follow a request, and never with MAINHOST_SPIN_US=0", function()
    local body = [==[
  for i = 1, 50 do assert(ipcRenderer.invoke("add", i, 1) == i + 1) end
  for i = 1, 20 do assert(ipcRenderer.sendSync("add-sync", i, 2) == i + 2) end
  done()
]==]
    -- How many spins get their answer depends on where the scheduler puts
    -- the two processes; what is counted must add up either way.
    local main = 'ipcMain.on("add-sync", function(e, a, b) e.returnValue = a + b end)\n'
    local r = run(main, body, { "MAINHOST_COUNTERS=1" })
    local _, waits, _, spins, hits = counters(r)
    assert(spins <= waits + 20 and hits <= spins, r.all)
    local r0 = run(main, body, { "MAINHOST_COUNTERS=1", "MAINHOST_SPIN_US=0" })
    local _, waits0, _, spins0, hits0 = counters(r0)
    assert(waits0 >= 50, r0.all)
    assert.are.equal(0, spins0, r0.all)
    assert.are.equal(0, hits0, r0.all)
  end)

  it("let a luv timer tick while the host sends nothing", function()
    local r = run("", [==[
  local n, tm = 0, uv.new_timer()
  tm:start(1, 1, function()
    n = n + 1
    say("tick", n)
    if n == 3 then
      tm:close()
      done()
    end
  end)
]==])
    assert.same({ "tick 1", "tick 2", "tick 3" }, said(r))
  end)

  it("let an unreferenced luv timer tick too", function()
    local r = run("", [==[
  local n, tm = 0, uv.new_timer()
  tm:unref()
  tm:start(1, 1, function()
    n = n + 1
    say("tick", n)
    if n == 2 then
      tm:close()
      done()
    end
  end)
]==])
    assert.same({ "tick 1", "tick 2" }, said(r))
  end)

  it("let a close callback run", function()
    local r = run("", [==[
  uv.new_timer():close(function()
    say("closed")
    done()
  end)
]==])
    assert.same({ "closed" }, said(r))
  end)

  it("let a threadpool request (uv.fs_stat) call back", function()
    local r = run("", [==[
  uv.fs_stat("/", function(err, st)
    say("stat", err or st.type)
    done()
  end)
]==])
    assert.same({ "stat directory" }, said(r))
  end)

  it("let a child process's exit call back", function()
    local r = run("", [==[
  local child
  child = uv.spawn("sh", { args = { "-c", "exit 7" } }, function(code)
    child:close()
    say("exited", code)
    done()
  end)
]==])
    assert.same({ "exited 7" }, said(r))
  end)

  it("let a signal handle run", function()
    local r = run("", [==[
  local sig = uv.new_signal()
  sig:start("sigusr1", function(name)
    sig:close()
    say("signal", name)
    done()
  end)
  uv.kill(uv.os_getpid(), "sigusr1")
]==])
    assert.same({ "signal sigusr1" }, said(r))
  end)

  it("end when a listener calls uv.stop(): the loop returns and the renderer exits 0", function()
    local r = run([==[
app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function(_, d)
    say("gone", d.reason, d.exitCode)
    app.quit()
  end)
end)
]==], [==[
  say("stopping")
  uv.stop()
]==])
    assert.same({ "stopping", "gone clean-exit 0" }, said(r))
  end)

  it("keep the loop's clock up to date: uv.now() after a long wait is not the time before it", function()
    -- The renderer waits in recv ~300 ms for "go". uv.now() is the loop's
    -- clock (CLOCK_MONOTONIC in ms, as uv.hrtime() in ns): left as it was
    -- before the wait, it would be ~300 ms behind.
    local r = run([==[
ipcMain.removeAllListeners("ready")
ipcMain.on("ready", function(e)
  mh.sleep(300)
  e.sender.send("go")
end)
]==], [==[
  local lag = uv.hrtime() / 1e6 - uv.now()
  say(lag < 150 and "clock up to date" or ("clock behind by " .. lag .. " ms"))
  done()
]==])
    assert.same({ "clock up to date" }, said(r))
  end)

  it("deliver what came during a sendSync made by a repeating timer before its next tick", function()
    -- Each sendSync blocks longer than the timer's interval. The fifth
    -- answer comes after a "ping"; the ping is delivered from the next
    -- turn of the loop, before the timer's next tick. (Were the loop's
    -- clock brought up to date by the sendSync's wait, the timer would be
    -- due again at once and tick on without the loop ever turning.)
    local r = run([==[
local k = 0
ipcMain.on("slow", function(e)
  k = k + 1
  mh.sleep(3)
  if k == 5 then e.sender.send("ping") end
  e.returnValue = "ok"
end)
]==], [==[
  local n, pinged = 0, nil
  ipcRenderer.on("ping", function() pinged = pinged or n end)
  local tm = uv.new_timer()
  tm:start(1, 1, function()
    n = n + 1
    ipcRenderer.sendSync("slow")
    if n == 10 then
      tm:close()
      say("ping at tick", pinged)
      done()
    end
  end)
]==])
    assert.same({ "ping at tick 5" }, said(r))
  end)

  it("block in recv for a sendSync from a timer callback, and deliver what came meanwhile afterwards", function()
    local r = run([==[
ipcMain.on("sync", function(e)
  e.sender.send("during", 1)
  e.returnValue = "answer"
end)
]==], [==[
  ipcRenderer.on("during", function(_, n)
    say("during", n)
    done()
  end)
  local tm = uv.new_timer()
  tm:start(1, 0, function()
    tm:close()
    say("got", ipcRenderer.sendSync("sync"))
  end)
]==])
    assert.same({ "got answer", "during 1" }, said(r))
  end)

  it("never block a top level that turns the loop itself with uv.run('nowait')", function()
    local r = t.run_app({
      ["main.lua"] = MAIN,
      ["r.lua"] = [==[
local ipcRenderer = require("mainhost.renderer").ipcRenderer
local uv = require("luv")
local n = 0
for _ = 1, 100 do
  uv.run("nowait")
  n = n + 1
end
ipcRenderer.send("say", "turned", n)
ipcRenderer.send("done")
]==],
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "r", script = "r.lua" } } },
    }, { timeout = 20000 })
    assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
    assert.same({ "turned 100" }, said(r))
  end)

  it("never block a listener that turns the loop itself with uv.run('nowait')", function()
    local r = run("", [==[
  local n = 0
  for _ = 1, 100 do
    uv.run("nowait")
    n = n + 1
  end
  say("turned", n)
  done()
]==])
    assert.same({ "turned 100" }, said(r))
  end)
end)

-- An invoke made by a coroutine that its previous invoke's reply resumed,
-- from the loop's wait, waits for its own reply in place (one send and one
-- recv, no switch to the loop and back; host/mh_chan.c,
-- mh_chan_wait_in_place) as long as the loop would do nothing else. The
-- first spec fails without it (no invoke answered in place); the others
-- fail (hang, or see the wrong order) if it takes a line that is not its
-- reply, or goes on waiting while something else in the loop is active.
describe("an invoke resumed by a reply", function()
  after_each(t.cleanup)

  local function in_place(r) return select(3, counters(r)) end

  it("waits for its reply in place, with its values and its errors", function()
    local r = run([==[
ipcMain.handle("pair", function(_, a) return { a, tostring(a) } end)
ipcMain.handle("boom", function() error("no luck", 0) end)
]==], [==[
  for i = 1, 50 do
    local v = ipcRenderer.invoke("pair", i)
    assert(v[1] == i and v[2] == tostring(i), "bad reply to " .. i)
  end
  local ok, err = pcall(ipcRenderer.invoke, "boom")
  say(ok, err)
  say(ipcRenderer.invoke("add", 40, 2))
  done()
]==], { "MAINHOST_COUNTERS=1" })
    assert.same({ "false Error invoking remote method 'boom': Error: no luck", "42" }, said(r))
    -- The first invoke of the listener yields (the runner resumed it);
    -- each one after it was resumed by a reply.
    assert(in_place(r) >= 45, "expected the invokes after the first to wait in place:\n" .. r.all)
  end)

  it("lets a message that came before its reply run first, every time", function()
    local r = run([==[
ipcMain.handle("step", function(e, i)
  e.sender.send("note", i)
  return i
end)
]==], [==[
  local noted = 0
  ipcRenderer.on("note", function(_, i) noted = i end)
  local late = 0
  for i = 1, 50 do
    assert(ipcRenderer.invoke("step", i) == i)
    if noted ~= i then late = late + 1 end
  end
  say("late notes", late)
  done()
]==], { "MAINHOST_COUNTERS=1" })
    assert.same({ "late notes 0" }, said(r))
  end)

  it("lets another coroutine's reply resume it, in order", function()
    local r = run([==[
ipcMain.handle("slow", function(_, i)
  mh.sleep(2)
  return i
end)
]==], [==[
  local slow_done = 0
  ipcRenderer.on("more", function()
    for i = 1, 5 do
      assert(ipcRenderer.invoke("slow", i) == i)
      slow_done = i
    end
  end)
  ipcRenderer.emit("more")
  -- Runs while the other coroutine's invokes are in flight: their replies
  -- come while this one waits.
  local n = 0
  while slow_done < 5 do
    assert(ipcRenderer.invoke("add", n, 1) == n + 1)
    n = n + 1
  end
  say("slow done", slow_done, n > 5)
  done()
]==], { "MAINHOST_COUNTERS=1" })
    assert.same({ "slow done 5 true" }, said(r))
  end)

  it("stops waiting in place once a timer is active, so that it ticks", function()
    local r = run("", [==[
  assert(ipcRenderer.invoke("add", 1, 1) == 2)
  local ticks, n = 0, 0
  local tm = uv.new_timer()
  tm:start(1, 1, function()
    ticks = ticks + 1
    if ticks == 3 then tm:close() end
  end)
  while ticks < 3 do
    assert(ipcRenderer.invoke("add", n, 1) == n + 1)
    n = n + 1
  end
  say("ticked", ticks)
  done()
]==])
    assert.same({ "ticked 3" }, said(r))
  end)

  it("gives back the read buffer a large reply grew, as the loop's read does", function()
    if os.getenv("ASAN_OPTIONS") then
      -- AddressSanitizer keeps freed memory in quarantine: RSS says nothing.
      pending("measured by RSS, which the sanitizer build does not give back")
      return
    end
    local r = run([==[
ipcMain.handle("big", function(_, n) return string.rep("x", n) end)
]==], [==[
  local function rss()
    for l in io.lines("/proc/self/status") do
      local v = l:match("^VmRSS:%s*(%d+)")
      if v then return tonumber(v) end
    end
  end
  assert(ipcRenderer.invoke("add", 1, 1) == 2)
  collectgarbage()
  local before = rss()
  local s = ipcRenderer.invoke("big", 32 * 1024 * 1024)
  assert(#s == 32 * 1024 * 1024)
  s = nil
  for i = 1, 10 do assert(ipcRenderer.invoke("add", i, 1) == i + 1) end
  collectgarbage()
  collectgarbage()
  local grown = rss() - before
  say(grown < 8 * 1024 and "buffer given back" or ("kept " .. grown .. " KiB"))
  done()
]==], { "MAINHOST_COUNTERS=1" })
    assert.same({ "buffer given back" }, said(r))
    assert(in_place(r) >= 10, r.all)
  end)

  it("names the invoke it waited on last when its coroutine fails", function()
    -- "finish" goes a loop turn after boom's error, so it comes after it.
    local r = run([==[
ipcMain.handle("boom", function(e)
  local tm = uv.new_timer()
  tm:start(0, 0, function()
    tm:close()
    e.sender.send("finish")
  end)
  error("no luck", 0)
end)
]==], [==[
  ipcRenderer.on("finish", done)
  -- A coroutine of its own (a listener's errors are reported by the
  -- runner, with the listener's name).
  require("mainhost.async").spawn(function()
    assert(ipcRenderer.invoke("add", 1, 1) == 2)
    assert(ipcRenderer.invoke("add", 2, 1) == 3)
    ipcRenderer.invoke("boom")
  end)
]==], { "MAINHOST_COUNTERS=1" })
    assert.matches("[r] mainhost: error in a coroutine waiting on invoke('boom'): "
      .. "Error invoking remote method 'boom': Error: no luck", r.stderr, 1, true)
    assert(in_place(r) >= 2, r.all)
  end)

  it("ignores a reply it cannot decode and goes on waiting, as the loop does", function()
    -- A fake host (Python) in place of mainhost: it answers invoke "c"
    -- with a line the renderer cannot decode, then with a good one.
    local dir = t.write(t.tempdir(), {
      ["host.py"] = [==[
import json, os, socket, subprocess, sys
a, b = socket.socketpair()
env = dict(os.environ, MAINHOST_IPC_FD=str(b.fileno()))
p = subprocess.Popen([sys.argv[1], "--renderer", sys.argv[2]], pass_fds=[b.fileno()], env=env)
b.close()
buf = b""
def line():
    global buf
    while b"\n" not in buf:
        d = a.recv(65536)
        if not d:
            return None
        buf += d
    l, buf = buf.split(b"\n", 1)
    return json.loads(l)
while True:
    m = line()
    if m is None:
        break
    if m.get("k") == "send":
        print("said", json.dumps(m["args"]), flush=True)
        break
    if m.get("k") != "invoke":
        continue
    good = b'{"k":"result","id":%d,"args":["%s"]}\n' % (m["id"], m["ch"].encode())
    if m["ch"] == "c":
        a.sendall(b'{"k":"result","id":%d,"args":[1,}\n' % m["id"] + good)
    else:
        a.sendall(good)
a.close()
print("renderer exit", p.wait(), flush=True)
]==],
      ["r.lua"] = [==[
local ipcRenderer = require("mainhost.renderer").ipcRenderer
local got = {}
for _, ch in ipairs({ "a", "b", "c", "d" }) do got[#got + 1] = tostring(ipcRenderer.invoke(ch)) end
ipcRenderer.send("log", table.concat(got, " "))
]==],
    })
    local r = t.exec({ cmd = { "python3", dir .. "/host.py", t.bin, dir .. "/r.lua" }, timeout = 20000 })
    assert.is_false(r.timed_out, r.stdout .. r.stderr)
    assert.are.same({ 'said ["a b c d"]', "renderer exit 0" }, t.lines(r.stdout), r.stdout .. r.stderr)
    assert.matches("mainhost renderer: ignored a message from the host", r.stderr, 1, true)
  end)
end)
