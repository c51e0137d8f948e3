-- The C client library (libmainhost-renderer) on real hosts: the
-- c-renderer example, and spec/c/client_renderer.c, a C renderer that
-- plays one scenario per spec against the main script written here and
-- prints what it gets ("c: ..."), values shown with their types and bytes.
local t = require("mainhost.test")

-- The binaries sit in the build tree of the host under test:
-- BUILD/host/mainhost -> BUILD/spec/client_renderer.
local build = assert(t.bin:match("^(.*)/host/[^/]+$"), "MAINHOST_BIN must be BUILD/host/mainhost")
local client_renderer = build .. "/spec/client_renderer"
local example_renderer = build .. "/scripts/examples/c-renderer/c-renderer"

-- What the C renderer printed, without the "[c] c: " prefix.
local function c_lines(stdout)
  local out = {}
  for _, l in ipairs(t.lines(stdout)) do
    local s = l:match("^%[c%] c: (.*)$")
    if s then out[#out + 1] = s end
  end
  return out
end

local QUIT_ON_DONE = [[
mh.ipcMain.once("done", function() mh.app.quit() end)
]]

-- Runs `client_renderer SCENARIO` against a main script (limits: the
-- config's, if given).
local function run(scenario, main, limits)
  local r = t.run_app({
    ["main.lua"] = 'local mh = require("mainhost")\n' .. main,
    ["mainhost.json"] = { main = "main.lua", limits = limits,
      renderers = { { name = "c", command = { client_renderer, scenario } } } },
  })
  r.c = c_lines(r.stdout)
  return r
end

-- Every scenario ends the same way once the host has closed the channel.
local THE_END = {
  "run returned 0",
  "send after the end: EPIPE",
  "sendSync after the end error: Error in sendSync for 'late': the host closed the channel",
}
local function with_end(lines)
  for _, l in ipairs(THE_END) do lines[#lines + 1] = l end
  return lines
end

describe("the c-renderer example", function()
  local function check(r)
    assert.are.equal(0, r.code, r.stderr)
    local want = {
      'main: got ping "hello from C" from renderer 1',
      "[c-ui] c-ui: got pong HELLO FROM C",
      "[c-ui] c-ui: 2 + 3 = 5 (integer)",
      "[c-ui] c-ui: 1.5 + 2 = 3.5 (float)",
      "[c-ui] c-ui: Error invoking remote method 'fail': Error: no such thing",
      "main: the C renderer is done after 3 replies, quitting",
      "[c-ui] c-ui: the host closed the channel, bye",
    }
    for _, line in ipairs(want) do assert.matches(line, r.stdout, 1, true) end
    assert.matches("%[c%-ui%] c%-ui: the time in main is %d%d%d%d%-%d%d%-%d%dT", r.stdout)
  end

  it("runs as scripts/run runs it: its config finds the renderer in build/", function()
    local dir = assert(t.bin:match("^(.*)/build[^/]*/host/[^/]+$"), "the host under test is not in the repository")
    local f = io.open(dir .. "/build/scripts/examples/c-renderer/c-renderer")
    assert.is_not_nil(f, "build/ has no c-renderer: run scripts/build")
    f:close()
    check(t.exec({ cmd = { t.bin, dir .. "/scripts/examples/c-renderer" } }))
  end)

  it("talks the same with the renderer built next to the host under test", function()
    local src = t.bin:match("^(.*)/build[^/]*/host/[^/]+$") .. "/scripts/examples/c-renderer"
    check(t.run_app({
      ["mainhost.json"] = { main = src .. "/main.lua", renderers = { { name = "c-ui", command = { example_renderer } } } },
    }))
  end)
end)

describe("a C renderer", function()
  it("says hello, which marks it loaded before it sends anything else", function()
    local r = run("hello", [[
mh.sleep(0) -- the renderers start
local wc = mh.webContents.getAllWebContents()[1]
for _ = 1, 500 do
  if not wc.isLoading() then break end
  mh.sleep(10)
end
print("main: loading " .. tostring(wc.isLoading()))
mh.app.quit()
]])
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("main: loading false", r.stdout, 1, true)
  end)

  it("sends and gets back byte strings that are not UTF-8, in values, keys and channel names", function()
    local r = run("bytes", [[
local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
mh.ipcMain.on("echo", function(e, ...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[i] = type(v) == "table" and ("{k80=" .. hex(v["k\x80"]) .. "}") or hex(v)
  end
  print("main: echo " .. table.concat(parts, " "))
  e.returnValue = { ... }
end)
mh.ipcMain.handle("echo-invoke", function(e, ...) return ... end)
mh.ipcMain.on("ch\xff", function(e, s)
  print("main: on ch\\xff got " .. hex(s))
  e.reply("bytes", "\xff\0\xc3", { ["\xfe"] = "\x80" })
end)
]] .. QUIT_ON_DONE)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("main: echo fffe41c3a9007a80 {k80=c3}", r.stdout, 1, true)
    assert.matches("main: on ch\\xff got fe", r.stdout, 1, true)
    assert.matches("main: echo eda080", r.stdout, 1, true)
    assert.same(with_end({
      "sendSync echo equal: yes",
      "invoke echo equal: yes",
      [=[invoke echo ["\xff\xfeA\xc3\xa9\x00z\x80",{"k\x80":"\xc3"}]]=],
      [=[bytes "bytes" frame 1 ["\xff\x00\xc3",{"\xfe":"\x80"}]]=],
      [=[echo of a WTF-8 surrogate ["\xed\xa0\x80"]]=],
    }), r.c)
  end)

  it("keeps integers and floats apart both ways", function()
    local r = run("numbers", [[
mh.ipcMain.handle("types", function(e, ...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[i] = math.type(v) .. " " .. tostring(v)
  end
  print("main: " .. table.concat(parts, ", "))
  return ...
end)
mh.ipcMain.on("want-nums", function(e)
  e.reply("nums", 3, 3.0, -0.0, 2^53, math.maxinteger, 1e-7)
end)
]] .. QUIT_ON_DONE)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("main: integer 1, float 1.0, float -0.0, float 2.5, integer 9223372036854775807, "
      .. "integer -9223372036854775808, float 0.1, float 1e+300, float 9.007199254741e+15", r.stdout, 1, true)
    assert.same(with_end({
      "types [1,1r,-0r,2.5r,9223372036854775807,-9223372036854775808,0.10000000000000001r,"
        .. "1.0000000000000001e+300r,9007199254740992r]",
      'nums "nums" frame 1 [3,3r,-0r,9007199254740992r,9223372036854775807,9.9999999999999995e-08r]',
    }), r.c)
  end)

  it("gets Electron's error texts from invoke and sendSync, and refuses bad arguments before sending", function()
    local r = run("errors", [[
mh.ipcMain.handle("boom", function() error("boom") end)
mh.ipcMain.handle("depth", function(e, v)
  local d = 0
  while type(v) == "table" do d, v = d + 1, v[1] end
  return d, v
end)
]] .. QUIT_ON_DONE)
    assert.are.equal(0, r.code, r.stderr)
    assert.same(with_end({
      "boom error: Error invoking remote method 'boom': Error: boom",
      "missing error: Error invoking remote method 'missing': Error: No handler registered for 'missing'",
      "nobody error: Error in sendSync for 'nobody': No listener for 'nobody' in the main process",
      "send with a non-array: EINVAL",
      "sendSync with a non-array error: args must be an array",
      "deepest [198,7]",
      "send too deep: EINVAL",
      "too deep error: args[1]: nested too deeply to send (more than 198 levels)",
      "async boom error: Error invoking remote method 'boom': Error: boom",
    }), r.c)
    assert.is_nil(r.stderr:find("refused a message", 1, true), r.stderr)
  end)

  it("blocks in sendSync and gets the messages that came meanwhile afterwards, in order", function()
    local r = run("sync", [[
local n = 0
mh.ipcMain.on("slow", function(e)
  n = n + 1
  e.sender.send("during", n)
  n = n + 1
  e.sender.send("during", n)
  mh.sleep(20)
  e.returnValue = "late " .. n
end)
mh.ipcMain.on("null", function(e) e.returnValue = mh.null end)
mh.ipcMain.on("table", function(e) e.returnValue = { 1.5, "x", true } end)
mh.ipcMain.on("which-frame", function(e, a, b) e.returnValue = { e.frameId, a + b } end)
]] .. QUIT_ON_DONE)
    assert.are.equal(0, r.code, r.stderr)
    assert.same(with_end({
      'slow "late 2"',
      "null null",
      'table [1.5r,"x",true]',
      "frame 2 [2,3]",
      'during "during" frame 1 [1]',
      'during "during" frame 1 [2]',
      'slow from a timer "late 4"',
      'during "during" frame 1 [3]',
      'during "during" frame 1 [4]',
    }), r.c)
  end)

  it("runs listeners with on/once/off in Node's order, and replies reach the frame that sent", function()
    local r = run("listeners", [[
mh.ipcMain.on("go", function(e)
  print("main: go from frame " .. e.frameId)
  for i = 1, 3 do e.reply("ev", i) end
end)
]] .. QUIT_ON_DONE)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("main: go from frame 2", r.stdout, 1, true)
    assert.same(with_end({
      "count 4",
      "A1 ev 1 frame 2",
      "off C: 0",
      "B ev 1",
      "C ev 1",
      "A2 ev 1 frame 2",
      "A1 ev 2 frame 2",
      "A2 ev 2 frame 2",
      "D ev 2",
      "A1 ev 3 frame 2",
      "count 3",
      "off C again: ENOENT",
      "count after remove all 0",
      "A2 ev 3 frame 2",
      "D ev 3",
    }), r.c)
  end)

  it("exits 0 when the main script closes its webContents, failing what was pending", function()
    local r = run("end", [[
mh.ipcMain.handle("never", function() coroutine.yield() end)
mh.ipcMain.on("ready", function(e)
  local wc = e.sender
  wc.on("render-process-gone", function(_, d)
    print("main: gone " .. d.reason .. " " .. d.exitCode)
    mh.app.quit()
  end)
  wc.close()
end)
]])
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("main: gone clean-exit 0", r.stdout, 1, true)
    assert.same(with_end({
      "pending invoke error: Error invoking remote method 'never': the host closed the channel",
    }), r.c)
  end)

  it("exits 0 when the host quits", function()
    local r = run("end", [[
mh.ipcMain.handle("never", function() coroutine.yield() end)
mh.ipcMain.on("ready", function(e)
  e.sender.on("render-process-gone", function(_, d)
    print("main: gone " .. d.reason .. " " .. d.exitCode)
  end)
  mh.app.quit()
end)
]])
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("main: gone clean-exit 0", r.stdout, 1, true)
    assert.are.equal("run returned 0", r.c[2])
    assert.matches("^pending invoke error: Error invoking remote method 'never': ", r.c[1])
  end)

  -- mh_client_run waits for the host in a blocking recv() when nothing
  -- else on its loop is active; these would hang if it did so too early.
  it("runs a timer on the client's loop while the host sends nothing", function()
    local r = run("ticks", [[
mh.ipcMain.on("tick", function(_, n) print("main: tick " .. n) end)
]] .. QUIT_ON_DONE)
    assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("main: tick 1\nmain: tick 2\nmain: tick 3\n", r.stdout, 1, true)
    assert.same(with_end({}), r.c)
  end)

  it("never blocks a program that turns the loop itself with UV_RUN_NOWAIT", function()
    local r = run("nowait", QUIT_ON_DONE)
    assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
    assert.are.equal(0, r.code, r.stderr)
    assert.same(with_end({ "turned the loop 1000 times" }), r.c)
  end)

  it("says why it cannot connect when not started by a host", function()
    local cases = {
      { env = nil, want = "c: connect: ENOENT" },
      { env = { "MAINHOST_IPC_FD=three" }, want = "c: connect: EBADF" },
      { env = { "MAINHOST_IPC_FD=0" }, want = "c: connect: ENOTSOCK" },
    }
    for _, case in ipairs(cases) do
      local r = t.exec({ cmd = { client_renderer, "hello" }, env = case.env })
      assert.are.equal(3, r.code)
      assert.are.equal(case.want .. "\n", r.stdout)
    end
  end)

  describe("found by a review of the library", function()
    -- The result of an invoke and a message came while a sendSync waited,
    -- then the end: the end was reported first (the invoke failed with
    -- "the host closed the channel", from inside the sendSync) and the
    -- result was dropped.
    it("delivers what came before the end of the channel during a sendSync, then the end", function()
      local r = run("lostresult", [[
mh.ipcMain.handle("quick", function() return "ok" end)
mh.ipcMain.on("sync-then-close", function(e)
  e.reply("note", "sent before close")
  e.sender.close()
end)
mh.app.on("window-all-closed", function() mh.app.quit() end)
]])
      assert.are.equal(0, r.code, r.stderr)
      local want = {
        "sync-then-close error: Error in sendSync for 'sync-then-close': the host closed the channel",
        "closed after the failed sendSync: 1, send: EPIPE",
        'quick ["ok"]',
        'note "note" frame 1 ["sent before close"]',
        "run returned 0",
        "a timer after the end fired",
      }
      for i = 2, #THE_END do want[#want + 1] = THE_END[i] end
      assert.same(want, r.c)
    end)

    -- Requests queued faster than they could be written, while the host
    -- answered them past maxQueuedBytes: the client waited to write without
    -- reading, the host stopped reading until its answers were read, and
    -- both waited for ever.
    it("reads the host's answers while it waits to write its own requests", function()
      local r = run("manyinvokes", [[
mh.ipcMain.handle("big", function(e, n) return ("y"):rep(n) end)
]] .. QUIT_ON_DONE, { maxQueuedBytes = 1048576 })
      assert.is_false(r.timed_out, r.stderr)
      assert.are.equal(0, r.code, r.stderr)
      assert.same(with_end({ "every big result came" }), r.c)
    end)

    -- The end came in a blocking call inside mh_client_run: its uv_stop()
    -- stayed pending, so mh_client_close's run of the loop returned at once
    -- and the client, its loop and fd 3 were never freed.
    it("closes everything when the channel ended in a blocking call inside mh_client_run", function()
      local r = run("stalestop", [[
mh.ipcMain.on("first", function(e)
  e.reply("ask")
  e.returnValue = "first done"
end)
mh.ipcMain.on("x", function(e) e.sender.close() end)
mh.app.on("window-all-closed", function() mh.app.quit() end)
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.same(with_end({
        'first "first done"',
        "x error: Error in sendSync for 'x': the host closed the channel",
      }), r.c)
      assert.is_nil(r.stderr:find("handles are still open", 1, true), r.stderr)
    end)

    -- The client's depth limit was fixed at 198: with a smaller
    -- limits.maxDepth its send reported success and the host dropped the
    -- message. It follows MAINHOST_MAX_DEPTH now.
    it("refuses arguments nested deeper than the host's maxDepth allows, before sending", function()
      local r = run("depth", [[
mh.ipcMain.on("log", function(e) print("main: log") end)
]] .. QUIT_ON_DONE, { maxDepth = 64 })
      assert.are.equal(0, r.code, r.stderr)
      assert.same(with_end({
        "send 62 levels: 0",
        "send 63 levels: EINVAL",
        "sync 63 levels error: args[0]: nested too deeply to send (more than 62 levels)",
      }), r.c)
      assert.matches("main: log", r.stdout, 1, true)
      assert.is_nil(r.stderr:find("refused a message", 1, true), r.stderr)
    end)

    it("refuses a NULL client or channel in every function instead of crashing", function()
      local r = run("nulls", QUIT_ON_DONE)
      assert.are.equal(0, r.code, r.stderr)
      assert.same(with_end({
        "send_sync(NULL) error: invalid argument: a NULL client or channel",
        "send_sync(c, NULL) error: invalid argument: a NULL client or channel",
        "invoke_sync(c, NULL) error: invalid argument: a NULL client or channel",
        "off(c, NULL): EINVAL",
        "off(NULL): EINVAL",
        "listener_count(c, NULL): 0",
        "hello(NULL): EINVAL",
        "flush(NULL): EINVAL",
        "run(NULL): EINVAL",
        "is_closed(NULL): 1, loop(NULL): (nil)",
        "connect(NULL, NULL): EINVAL",
      }), r.c)
    end)
  end)
end)
