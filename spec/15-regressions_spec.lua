-- Regressions: one spec per bug fixed without a spec of its own (the
-- security review's backpressure, forged log lines and inherited
-- descriptors; a dropped sendSync; lines held back by sendSync;
-- webContents.ipc after its renderer is gone; an oversized line; Node's
-- internal messages in any field order). Each runs a real host with real
-- renderer processes and fails if its fix is reverted.
--
-- No sleeps and no timings: the host is driven by what its renderers and
-- main script say; the timeouts below only guard against hangs (a hang is
-- how several of these bugs showed).
local t = require("mainhost.test")
local S = require("support.app")
local lines_from, assert_line = S.lines_from, S.assert_line

local PY = S.PY  -- support.app's Python renderer prelude

-- The start of every main script: support.app's (`say` prints a "main: "
-- line, quit_on(ch) quits when a renderer sends ch), and
-- quit_when_gone(name), which quits when that renderer's process is gone.
local MAIN = S.MAIN_PRELUDE .. [==[
local app = mh.app
local function quit_when_gone(name)
  app.on("web-contents-created", function(_, wc)
    if wc.name ~= name then return end
    wc.on("render-process-gone", function(_, d)
      say("gone " .. name .. " id " .. wc.id .. " " .. d.reason .. " " .. d.exitCode)
      app.quit()
    end)
  end)
end
]==]

-- Adds .all (both outputs, for messages) and checks what every app here
-- must do: no hang, no signal, exit code 0.
local function checked(r)
  r.all = "stdout:\n" .. r.stdout .. "\nstderr:\n" .. r.stderr
  assert.is_false(r.timed_out, "the app hung (killed by the spec's guard):\n" .. r.all)
  assert.are.equal(0, r.signal, "the host died of a signal:\n" .. r.all)
  assert.are.equal(0, r.code, "exit code:\n" .. r.all)
  return r
end

-- Runs an app: main.lua (MAIN .. main), the given renderers (a list of
-- config entries), extra files and limits.
local function run(opts)
  local files = opts.files or {}
  files["main.lua"] = MAIN .. opts.main
  files["mainhost.json"] = { main = "main.lua", limits = opts.limits, renderers = opts.renderers }
  return checked(t.run_app(files, { timeout = opts.timeout or 60000, env = opts.env }))
end

-- A renderer that invokes "big" (a 4 KiB answer) in a loop and never reads
-- the replies (flood.py), and the start of a main script that answers and
-- counts the calls: the host must throttle it (stop reading) once
-- maxQueuedBytes of replies wait.
local FLOOD_PY = PY .. [==[
i = 0
try:
    while True:
        send(b"".join(b'{"k":"invoke","ch":"big","id":%d,"args":[]}\n' % (i + j) for j in range(1, 101)))
        i += 100
except OSError:
    pass  # the host closed the channel at quit
]==]
local FLOOD_MAIN = [==[
local calls, big = 0, ("x"):rep(4096)
ipcMain.handle("big", function()
  calls = calls + 1
  return big
end)
]==]

describe("regressions", function()
  after_each(t.cleanup)

  -- 518d57f: the host stops reading a renderer that sends requests and
  -- never reads the replies once maxQueuedBytes wait for it. Before, it
  -- read on and queued every 4 KiB reply: hundreds of MB in seconds.
  it("stops reading a renderer that invokes in a loop and never reads the replies, so the host's memory stays bounded", function()
    local r = run({
      limits = { maxQueuedBytes = 1048576, maxPendingInvokes = 1000000 },
      renderers = { { name = "flood", command = { "python3", "flood.py" } } },
      files = { ["flood.py"] = FLOOD_PY },
      main = FLOOD_MAIN .. [==[
local alive, finished = false, false
app.on("web-contents-created", function(_, wc)
  alive = true
  wc.on("render-process-gone", function(_, d)
    alive = false
    if not finished then
      say("flood gone before the check: " .. d.reason .. " " .. d.exitCode)
      app.quit()
    end
  end)
end)
local function rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local kb = tonumber(f:read("a"):match("VmRSS:%s*(%d+) kB"))
  f:close()
  return kb
end
-- Every 200 ms: done once 20,000 invokes are answered, or once the count
-- stopped growing between two checks while flood is alive (the host no
-- longer reads it). A throttle needs maxQueuedBytes of replies queued
-- (256 of 4 KiB): a pause before that is flood being slow, not a stall.
local last = -1
local timer = uv.new_timer()
timer:start(200, 200, function()
  local stalled = alive and calls >= 256 and calls == last
  last = calls
  if calls >= 20000 or stalled then
    finished = true
    timer:stop()
    timer:close()
    say(("calls %d stalled %s rss_kb %d"):format(calls, tostring(stalled), rss_kb()))
    app.quit()
  end
end)
]==],
    })
    local calls, stalled, rss = r.stdout:match("main: calls (%d+) stalled (%a+) rss_kb (%d+)")
    assert(rss, "main never printed its RSS:\n" .. r.all)
    calls, rss = tonumber(calls), tonumber(rss)
    assert(rss < 64 * 1024, ("the host's RSS was %d kB after %d invokes answered (stalled: %s)\n%s"):format(
      rss, calls, stalled, r.all))
  end)

  -- 6591a6b (the throttled spin): while a renderer is throttled (replies
  -- to it wait, so it is not read) it must not be polled for reading
  -- either: its socket stays readable, and a level-triggered poll would
  -- turn the loop without end, 100 % CPU until the throttle lifts. Counted
  -- in loop turns, not time: held throttled for ~1 s here, the loop turns
  -- only for the timer (and the few events before the throttle), where a
  -- spinning loop makes hundreds of thousands of turns.
  it("does not spin the event loop while a renderer is throttled", function()
    local r = run({
      env = { "MAINHOST_COUNTERS=1" },
      limits = { maxQueuedBytes = 1048576, maxPendingInvokes = 1000000 },
      renderers = { { name = "flood", command = { "python3", "flood.py" } } },
      files = { ["flood.py"] = FLOOD_PY },
      main = FLOOD_MAIN .. [==[
-- Every 100 ms: once the count has stopped growing (throttled), stay ten
-- more ticks, still throttled, then quit.
local last, quiet = -1, 0
local timer = uv.new_timer()
timer:start(100, 100, function()
  if calls >= 256 and calls == last then quiet = quiet + 1 else quiet = 0 end
  last = calls
  if quiet >= 10 then
    timer:stop()
    timer:close()
    say(("throttled at %d calls"):format(calls))
    app.quit()
  end
end)
]==],
    })
    assert(r.stdout:match("main: throttled at %d+ calls"), "the renderer was never throttled:\n" .. r.all)
    local turns = tonumber(r.stderr:match("mainhost: at exit: (%d+) loop turns"))
    assert(turns, "no loop-turn count on stderr:\n" .. r.all)
    assert(turns < 20000, ("%d loop turns for a run that was throttled for ~1 s: the loop spins\n%s"):format(
      turns, r.all))
  end)

  -- 518d57f: channels and kinds a renderer chose are escaped in the
  -- host's log lines, so "\n" cannot start a line of the renderer's making.
  it("escapes a renderer's channel and kind in log lines, so a \"\\n\" in them cannot forge a line", function()
    local r = run({
      renderers = { { name = "evil", command = { "python3", "evil.py" } } },
      files = {
        ["evil.py"] = PY .. [==[
send(b'{"k":"invoke","ch":"a\\nmainhost: FORGED by invoke","id":1,"args":[]}\n')
send(b'{"k":"sync","ch":"b\\nmainhost: FORGED by sendSync","id":2,"args":[]}\n')
send(b'{"k":"c\\nmainhost: FORGED by kind","ch":"x","args":[]}\n')
want = {1, 2}
while want:
    line = read_line()
    if line is None:
        say("EOF while waiting for results", sorted(want))
        break
    m = json.loads(line)
    if m.get("k") == "result":
        want.discard(m["id"])
        say("result", m["id"], "error" in m)
send(b'{"k":"send","ch":"done","args":[]}\n')
]==],
      },
      main = 'quit_on("done")\n',
    })
    -- The host read and answered all three (they are not lost, only escaped).
    assert.are.same({ "result 1 True", "result 2 True" }, lines_from(r.stdout, "[evil] "), r.all)
    for _, l in ipairs(t.lines(r.stderr)) do
      assert(l:sub(1, #"mainhost: FORGED") ~= "mainhost: FORGED", "a forged line in the host's stderr:\n" .. r.all)
    end
    for _, what in ipairs({ "a\\x0amainhost: FORGED by invoke", "b\\x0amainhost: FORGED by sendSync",
      "c\\x0amainhost: FORGED by kind" }) do
      assert(r.stderr:find(what, 1, true), ("expected %q, escaped, in the host's stderr:\n%s"):format(what, r.all))
    end
  end)

  -- 518d57f: descriptors the host inherited are close-on-exec, so a
  -- renderer gets stdin, stdout, stderr and fd 3 only.
  it("gives a renderer none of the descriptors the host inherited, only fd 3 beside stdio", function()
    local dir = t.write(t.tempdir(), {
      ["main.lua"] = MAIN .. 'quit_when_gone("fds")\n',
      ["mainhost.json"] = {
        main = "main.lua",
        renderers = { { name = "fds", command = { "sh", "-c", "ls /proc/self/fd" } } },
      },
    })
    -- The host starts with fd 7 open and not close-on-exec.
    local r = checked(t.exec({ cmd = { "sh", "-c", 'exec 7</dev/null; exec "$0" "$@"', t.bin, dir }, timeout = 30000 }))
    assert_line(r.stdout, "main: gone fds id 1 clean-exit 0", r.all)
    local fds = {}
    for _, l in ipairs(lines_from(r.stdout, "[fds] ")) do fds[l] = true end
    assert(fds["0"] and fds["1"] and fds["2"], "ls in the renderer listed no stdio:\n" .. r.all)
    assert(fds["3"], "the renderer has no fd 3 (its IPC socket):\n" .. r.all)
    assert(not fds["7"], "the renderer inherited the host's fd 7:\n" .. r.all)
  end)

  -- 2f5dea2: a sendSync whose event no listener answered and nobody keeps
  -- is answered by the host's own GC sweep; before, the renderer hung
  -- until main happened to collect garbage.
  it("answers a dropped sendSync with 'reply was never sent' by itself, without main collecting garbage", function()
    local r = run({
      timeout = 30000,
      renderers = { { name = "ui", script = "ui.lua" } },
      files = {
        ["ui.lua"] = [==[
local ipc = require("mainhost.renderer").ipcRenderer
local ok, err = pcall(ipc.sendSync, "x")
print(tostring(ok) .. " " .. tostring(err))
ipc.send("done")
]==],
      },
      main = [==[
ipcMain.on("x", function() say("x listener ran, no returnValue") end)
quit_on("done")
]==],
    })
    assert.are.same({ "x listener ran, no returnValue" }, lines_from(r.stdout, "main: "), r.all)
    assert.are.same({ "false Error in sendSync for 'x': reply was never sent" }, lines_from(r.stdout, "[ui] "), r.all)
    assert.matches("mainhost: no listener set event.returnValue for sendSync('x') from renderer 'ui' (id 1); "
      .. "it gets \"reply was never sent\"", r.stderr, 1, true)
  end)

  -- 2f5dea2: a message that came while a Lua renderer was blocked in
  -- sendSync is delivered after the reply even when nothing more arrives;
  -- before, it waited for the next message, which never came.
  it("delivers a message that arrived during a sendSync once the reply is in, with nothing more arriving", function()
    local r = run({
      timeout = 30000,
      renderers = { { name = "ui", script = "ui.lua" } },
      files = {
        ["ui.lua"] = [==[
local ipc = require("mainhost.renderer").ipcRenderer
ipc.on("note", function(_, s)
  print("note " .. s)
  ipc.send("done")
end)
print("sendSync gave " .. ipc.sendSync("x"))
]==],
      },
      main = [==[
ipcMain.on("x", function(event)
  event.sender.send("note", "held back")
  local tm = uv.new_timer()
  tm:start(0, 0, function()
    tm:close()
    event.returnValue = "the answer"
  end)
end)
ipcMain.on("done", function()
  say("done")
  app.quit()
end)
]==],
    })
    assert.are.same({ "sendSync gave the answer", "note held back" }, lines_from(r.stdout, "[ui] "), r.all)
    assert_line(r.stdout, "main: done", r.all)
  end)

  -- 2f5dea2: a webContents' ipc emitter lives as long as its methods, so
  -- calling them after the renderer is gone is safe (it was a
  -- use-after-free, which the sanitizer build reports).
  it("keeps webContents.ipc methods safe in 'destroyed' and after it", function()
    local r = run({
      timeout = 30000,
      renderers = { { name = "ui", script = "ui.lua" } },
      files = { ["ui.lua"] = "os.exit(0)\n" },
      main = [==[
local kept
local function f() end
local function poke(when)
  kept.ipc.on("x", f)
  kept.ipc.handle("y", f)
  kept.ipc.removeAllListeners()
  kept.ipc.removeHandler("y")
  kept.ipc.on("x", f)
  say(when .. ": x listeners " .. kept.ipc.listenerCount("x"))
  kept.ipc.removeAllListeners()
end
app.on("web-contents-created", function(_, wc)
  kept = wc
  wc.on("destroyed", function()
    poke("in destroyed")
    local tm = uv.new_timer()
    tm:start(0, 0, function()
      tm:close()
      poke("after destroyed")
      collectgarbage()
      poke("after a collection")
      app.quit()
    end)
  end)
end)
]==],
    })
    assert.are.same({ "in destroyed: x listeners 1", "after destroyed: x listeners 1",
      "after a collection: x listeners 1" }, lines_from(r.stdout, "main: "), r.all)
  end)

  -- 2f5dea2: a line over limits.maxMessageBytes ends the stream within one
  -- read of the limit; before, the host read on (16 reads a wake, into a
  -- growing buffer) before it looked at the limit.
  --
  -- Writing "as fast as it can" alone does not tell the two apart (the
  -- unfixed host also stops the writer long before 8 MiB, checked by
  -- reverting the fix), so main holds the host's loop (blocked on a FIFO
  -- that evil opens) while evil writes the line until the kernel takes no
  -- more; then evil lets main go and reads until the host closes. A host
  -- that stops within one read of the limit leaves most of it unread, so
  -- evil's socket is reset; one that reads on empties it, and evil sees a
  -- clean EOF. Then evil writes on and its writes fail.
  it("disconnects a renderer whose line passes maxMessageBytes within one read, and its writes fail before 8 MiB", function()
    local r = run({
      limits = { maxMessageBytes = 4096 },
      renderers = { { name = "evil", command = { "python3", "evil.py" } } },
      files = {
        ["evil.py"] = PY .. [==[
gate = os.path.abspath("gate")
os.mkfifo(gate)
send(b'{"k":"send","ch":"gate","args":[' + json.dumps(gate).encode() + b']}\n')
g = open(gate, "wb")  # returns once main is blocked reading it: the host's loop is held
total = 8 * 1024 * 1024
data = memoryview(b'{"k":"send","ch":"hit","args":["' + b"x" * total)[:total]
wrote = 0
sock.setblocking(False)
try:
    while wrote < total:
        wrote += sock.send(data[wrote:wrote + 65536])
except BlockingIOError:
    pass
filled = wrote
sock.setblocking(True)
g.close()  # main goes on; the host reads
try:
    while read_line() is not None:
        pass
    end = "EOF"
except ConnectionResetError:
    end = "reset"
how = "all written"
try:
    while wrote < total:
        wrote += sock.send(data[wrote:wrote + 65536])
except BrokenPipeError:
    how = "broken pipe"
except ConnectionResetError:
    how = "reset"
say("filled", filled, "end", end, "wrote", wrote, how)
]==],
      },
      main = [==[
ipcMain.on("gate", function(_, path)
  local f = assert(io.open(path, "rb"))
  f:read("a")
  f:close()
end)
ipcMain.on("hit", function() say("hit") end)
quit_when_gone("evil")
]==],
    })
    local id = tonumber(r.stdout:match("main: gone evil id (%d+) "))
    assert(id, "main never saw evil gone:\n" .. r.all)
    assert_line(r.stderr, ("mainhost: renderer 'evil' (id %d): a message was longer than the limit (4096 bytes); "
      .. "disconnected"):format(id), r.all)
    assert.is_nil(r.stdout:find("main: hit", 1, true), r.all)
    local said = lines_from(r.stdout, "[evil] ")
    assert.are.equal(1, #said, r.all)
    local filled, ended, wrote, how = said[1]:match("^filled (%d+) end (%a+) wrote (%d+) (.+)$")
    assert(filled, r.all)
    filled, wrote = tonumber(filled), tonumber(wrote)
    assert(filled > 1024 * 1024, "evil could not fill the socket past 1 MiB\n" .. r.all)
    assert.are.equal("reset", ended,
      ("the host read all %d bytes of a line limited to 4096 before it disconnected\n%s"):format(filled, r.all))
    assert(how == "broken pipe" or how == "reset", ("evil's writes: %s (%d bytes)\n%s"):format(how, wrote, r.all))
    assert(wrote < 8 * 1024 * 1024, ("evil wrote %d bytes\n%s"):format(wrote, r.all))
  end)

  -- 2f5dea2: {"cmd":"NODE_..."} is Node's, whatever comes before it.
  it("ignores a {\"cmd\":\"NODE_...\"} message whatever the order of its fields", function()
    local r = run({
      renderers = { { name = "evil", command = { "python3", "evil.py" } } },
      files = {
        ["evil.py"] = PY .. [==[
send(b'{"k":"bogus","cmd":"NODE_HANDLE_ACK"}\n')
send(b'{"cmd":"NODE_X","k":"bogus"}\n')
send(b'{"k":"send","ch":"done","args":[]}\n')
]==],
      },
      main = 'quit_on("done")\n',
    })
    assert.is_nil(r.stderr:find("refused a message", 1, true), r.all)
    assert.is_nil(r.stderr:find("'evil'", 1, true), r.all)
  end)
end)
