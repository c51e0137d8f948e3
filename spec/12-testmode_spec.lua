-- `mainhost test` and mainhost.test's in-process mode, used for real: a main
-- script is written into a temp dir and loaded with t.load into the test
-- host (busted runs inside the mainhost binary), and in-process renderers
-- (t.renderer) talk to it through the real codec and dispatch. Then
-- `mainhost test` end to end on a user project written into a temp dir.
--
-- No sleeps and no timings: t.pump waits on a condition and the timeouts
-- only guard against hangs.
local t = require("mainhost.test")
local mh = require("mainhost")

-- The main script under test. It keeps a log in the global LOG (the test
-- host and the spec share one Lua state, as documented).
local MAIN = [==[
local mh = require("mainhost")
LOG = {}
local function log(s) LOG[#LOG + 1] = s end
mh.app.on("web-contents-created", function(_, wc)
  log("created " .. wc.name)
  wc.on("did-finish-load", function()
    log("loaded " .. wc.name)
    wc.send("welcome", wc.id)
  end)
  wc.on("render-process-gone", function(_, d)
    log(("gone %s %s %d"):format(wc.name, d.reason, d.exitCode))
  end)
  wc.on("destroyed", function() log("destroyed " .. wc.name) end)
end)
for _, name in ipairs({ "before-quit", "will-quit" }) do
  mh.app.on(name, function() log(name) end)
end
mh.app.on("quit", function(_, code) log("quit " .. code) end)

mh.ipcMain.handle("add", function(_, a, b) return a + b end)
mh.ipcMain.handle("slow-add", function(_, a, b)
  mh.sleep(30)
  return a + b
end)
mh.ipcMain.handle("three", function(_, x) return x, nil, "three" end)
mh.ipcMain.handle("fail", function() error("disk full") end)
mh.ipcMain.on("double", function(e, x) e.returnValue = x * 2 end)
mh.ipcMain.on("later", function(e, x)
  mh.sleep(30)
  e.returnValue = "late " .. x
end)
mh.ipcMain.on("echo", function(e, ...) e.reply("echoed", ...) end)
mh.ipcMain.on("whoami", function(e)
  e.sender.send("you-are", e.sender.id, e.sender.name, e.frameId, e.sender == mh.webContents.fromId(e.sender.id))
end)
mh.ipcMain.on("broadcast", function(_, text)
  for _, wc in ipairs(mh.webContents.getAllWebContents()) do wc.send("news", text) end
end)
mh.ipcMain.on("remember", function(_, v) log("remember " .. tostring(v)) end)
mh.ipcMain.on("quit", function(_, code) mh.app.quit(code) end)
mh.ipcMain.on("exit", function(_, code) mh.app.exit(code) end)
]==]

local function write_main(src)
  local dir = t.write(t.tempdir(), { ["main.lua"] = src })
  return dir .. "/main.lua"
end

local function load_main(src)
  t.load(write_main(src or MAIN))
end

local function logged(entry)
  for _, l in ipairs(_G.LOG or {}) do
    if l == entry then return true end
  end
  return false
end

-- The error a call raises, as a string (no position: the function is
-- called by pcall directly).
local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("mainhost.test in-process mode", function()
  after_each(function()
    t.reset()
    t.cleanup()
    _G.LOG = nil
  end)

  describe("invoke", function()
    it("answers r:invoke with the return value of a handler the loaded main script registered", function()
      load_main()
      local r = t.renderer({ name = "ui" })
      assert.are.same({ 5 }, { r:invoke("add", 2, 3) })
    end)

    it("makes renderer names unique as createRenderer does: ui, ui-2, ui-3, and the main script sees them", function()
      load_main()
      local a, b, c = t.renderer({ name = "ui" }), t.renderer({ name = "ui" }), t.renderer({ name = "ui" })
      assert.are.same({ "ui", "ui-2", "ui-3" }, { a.webContents.name, b.webContents.name, c.webContents.name })
      local names = {}
      for _, wc in ipairs(require("mainhost").webContents.getAllWebContents()) do names[#names + 1] = wc.name end
      table.sort(names)
      assert.are.same({ "ui", "ui-2", "ui-3" }, names)
    end)

    it("returns every value an invoke handler returns, nil holes included", function()
      load_main()
      local r = t.renderer()
      local got = table.pack(r:invoke("three", 7))
      assert.are.equal(3, got.n)
      assert.are.same({ 7, nil, "three" }, { got[1], got[2], got[3] })
    end)

    it("waits for a handler that sleeps with mh.sleep and returns what it returns after the wait", function()
      load_main()
      local r = t.renderer()
      assert.are.same({ 42 }, { r:invoke("slow-add", 40, 2) })
    end)

    it("raises Electron's 'Error invoking remote method' with only the message of the handler's error", function()
      load_main()
      local r = t.renderer()
      assert.are.equal("Error invoking remote method 'fail': Error: disk full", error_of(r.invoke, r, "fail"))
    end)

    it("raises 'No handler registered' for an invoke on a channel with no handler", function()
      load_main()
      local r = t.renderer()
      assert.are.equal("Error invoking remote method 'nobody': Error: No handler registered for 'nobody'",
        error_of(r.invoke, r, "nobody"))
    end)

    it("keeps working after a failed invoke: the next invoke gets its own answer", function()
      load_main()
      local r = t.renderer()
      error_of(r.invoke, r, "fail")
      assert.are.same({ 3 }, { r:invoke("add", 1, 2) })
    end)

    it("raises a timeout error instead of hanging when a handler never returns (the renderer's timeout)", function()
      load_main(MAIN .. '\nmh.ipcMain.handle("never", function() coroutine.yield() end)\n')
      local r = t.renderer({ timeout = 200 })
      assert.matches("timed out waiting for the reply to invoke('never')", error_of(r.invoke, r, "never"), 1, true)
    end)
  end)

  describe("sendSync", function()
    it("answers r:sendSync with the event.returnValue a listener sets", function()
      load_main()
      local r = t.renderer()
      assert.are.equal(42, r:sendSync("double", 21))
    end)

    it("answers r:sendSync with a returnValue set after the listener waits with mh.sleep", function()
      load_main()
      local r = t.renderer()
      assert.are.equal("late x", r:sendSync("later", "x"))
    end)

    it("raises for a sendSync on a channel with no listener, as a Lua renderer's sendSync does", function()
      load_main()
      local r = t.renderer()
      assert.are.equal("Error in sendSync for 'nobody': No listener for 'nobody' in the main process",
        error_of(r.sendSync, r, "nobody"))
    end)
  end)

  describe("send and received", function()
    it("returns from r:send once main's listeners have run", function()
      load_main()
      local r = t.renderer()
      r:send("remember", 7)
      assert.is_true(logged("remember 7"), table.concat(_G.LOG, "\n"))
    end)

    it("collects event.reply messages in order with all their arguments, in frame 1", function()
      load_main()
      local r = t.renderer()
      r:send("echo", "one", 1)
      r:send("echo", "two", nil, 2)
      local got = r:received("echoed")
      assert.are.equal(2, #got)
      assert.are.same({ "echoed", 2, "one", 1, 1 }, { got[1].channel, got[1].args.n, got[1].args[1], got[1].args[2], got[1].frame })
      assert.are.equal(3, got[2].args.n)
      assert.are.same({ "two", nil, 2 }, { got[2].args[1], got[2].args[2], got[2].args[3] })
    end)

    it("filters received(channel) by channel and lists every message in arrival order with received()", function()
      load_main()
      local r = t.renderer()
      r:send("echo", "a")
      r:send("whoami")
      r:send("echo", "b")
      local channels = {}
      for _, m in ipairs(r:received()) do channels[#channels + 1] = m.channel end
      -- "welcome" is what main sends on did-finish-load, before it handles anything
      assert.are.same({ "welcome", "echoed", "you-are", "echoed" }, channels)
      local echoed = {}
      for _, m in ipairs(r:received("echoed")) do echoed[#echoed + 1] = m.args[1] end
      assert.are.same({ "a", "b" }, echoed)
      assert.are.same({}, r:received("nothing-here"))
    end)

    it("has a 1 MiB reply whole in r:received() once r:send returns, as it has a small one", function()
      load_main(MAIN .. '\nmh.ipcMain.on("big", function(e, n) e.reply("big", string.rep("x", n)) end)\n')
      local r = t.renderer()
      r:send("big", 1 << 20)
      local got = r:received("big")
      assert.are.equal(1, #got)
      assert.are.equal(1 << 20, #got[1].args[1])
    end)

    it("returns a 1 MiB invoke result whole, and carries a 4 MiB argument to main", function()
      load_main(MAIN .. '\nmh.ipcMain.handle("bytes", function(_, n) return string.rep("x", n) end)\n'
        .. 'mh.ipcMain.on("length", function(e, s) e.returnValue = #s end)\n')
      local r = t.renderer()
      assert.are.equal(1 << 20, #r:invoke("bytes", 1 << 20))
      assert.are.equal(4 << 20, r:sendSync("length", string.rep("y", 4 << 20)))
    end)

    it("refuses to send a value that cannot be carried, naming the argument, and nothing reaches main", function()
      load_main()
      local r = t.renderer()
      assert.matches("argument 2: function cannot be sent", error_of(r.send, r, "remember", print), 1, true)
      assert.matches("argument 3: function cannot be sent", error_of(r.invoke, r, "add", 1, print), 1, true)
      r:send("remember", "after")
      for _, l in ipairs(_G.LOG) do assert.is_nil(l:match("^remember function")) end
      assert.is_true(logged("remember after"))
    end)
  end)

  describe("webContents", function()
    it("gives main a webContents per renderer: event.sender is r.webContents, with r's id and name", function()
      load_main()
      local r = t.renderer({ name = "panel" })
      r:send("whoami")
      local m = r:received("you-are")[1]
      assert.are.same({ r.id, "panel", 1, true }, { m.args[1], m.args[2], m.args[3], m.args[4] })
      assert.are.equal(r.webContents, mh.webContents.fromId(r.id))
      assert.are.equal("panel", r.webContents.name)
    end)

    it("delivers wc.send to that renderer only, and a broadcast over getAllWebContents to each", function()
      load_main()
      local a = t.renderer({ name = "a" })
      local b = t.renderer({ name = "b" })
      b:send("whoami")
      assert.are.equal(0, #a:received("you-are"))
      assert.are.equal(1, #b:received("you-are"))
      a:send("broadcast", "hi all")
      assert.are.equal("hi all", a:received("news")[1].args[1])
      assert.are.equal("hi all", b:received("news")[1].args[1])
    end)

    it("emits app web-contents-created with the renderer's webContents before anything else", function()
      load_main()
      t.renderer({ name = "ui" })
      assert.are.equal("created ui", _G.LOG[1])
    end)

    it("emits did-finish-load when t.renderer returns, so what main sends then is already in r:received()", function()
      load_main()
      local r = t.renderer({ name = "ui" })
      assert.is_true(logged("loaded ui"), table.concat(_G.LOG, "\n"))
      local welcome = r:received("welcome")
      assert.are.equal(1, #welcome)
      assert.are.equal(r.id, welcome[1].args[1])
    end)

    it("emits did-finish-load once, not again on later messages", function()
      load_main()
      local r = t.renderer({ name = "ui" })
      r:send("remember", 1)
      r:send("remember", 2)
      local n = 0
      for _, l in ipairs(_G.LOG) do if l == "loaded ui" then n = n + 1 end end
      assert.are.equal(1, n)
    end)

    it("emits render-process-gone (clean-exit, code 0) then destroyed when r:close() ends the renderer", function()
      load_main()
      local r = t.renderer({ name = "ui" })
      r:close()
      t.pump(function() return logged("destroyed ui") end, 5000, "destroyed")
      local gone, destroyed
      for i, l in ipairs(_G.LOG) do
        if l == "gone ui clean-exit 0" then gone = i end
        if l == "destroyed ui" then destroyed = i end
      end
      assert.is_not_nil(gone, table.concat(_G.LOG, "\n"))
      assert.is_true(gone < destroyed)
    end)

    it("drops a closed renderer from webContents.getAllWebContents and keeps the others", function()
      load_main()
      local a = t.renderer({ name = "a" })
      local b = t.renderer({ name = "b" })
      a:close()
      t.pump(function() return logged("destroyed a") end, 5000, "destroyed a")
      local names = {}
      for _, wc in ipairs(mh.webContents.getAllWebContents()) do names[#names + 1] = wc.name end
      assert.are.same({ "b" }, names)
      assert.are.same({ 3 }, { b:invoke("add", 1, 2) })
    end)

    it("raises when a closed renderer is used again", function()
      load_main()
      local r = t.renderer()
      r:close()
      assert.matches("attempt to use a closed fake renderer", error_of(r.send, r, "remember", 1), 1, true)
    end)
  end)

  describe("t.load", function()
    it("raises the main script's top-level error, with the script's position", function()
      local path = write_main('local x = 1\nerror("top boom")\n')
      assert.matches("main%.lua:2: top boom", error_of(t.load, path))
    end)

    it("raises when the main script does not exist or does not compile", function()
      assert.matches("cannot open", error_of(t.load, t.tempdir() .. "/missing.lua"), 1, true)
      assert.matches("main%.lua:1:", error_of(t.load, write_main("local = 1\n")))
    end)

    it("returns at the top level's first wait, and t.pump runs the rest", function()
      load_main('local mh = require("mainhost")\nSTAGE = "started"\nmh.sleep(20)\nSTAGE = "resumed"\n')
      assert.are.equal("started", _G.STAGE)
      t.pump(function() return _G.STAGE == "resumed" end, 5000, "the top level to resume")
    end)

    it("lets a top level that waits with app.whenReady() go on", function()
      load_main('local mh = require("mainhost")\nmh.app.whenReady()\nREADY = mh.app.isReady()\n')
      t.pump(function() return _G.READY ~= nil end, 5000, "whenReady")
      assert.is_true(_G.READY)
    end)

    it("emits app 'ready' for a main script that registers an app.on('ready') listener, as mainhost APP does", function()
      load_main('local mh = require("mainhost")\nREADY_EVENTS = 0\nmh.app.on("ready", function() READY_EVENTS = READY_EVENTS + 1 end)\n')
      t.pump(function() return _G.READY_EVENTS > 0 end, 2000, "the ready event")
      assert.are.equal(1, _G.READY_EVENTS)
    end)

    it("treats a top-level error after a wait as mainhost APP does: quit_state() says quitting with status 1", function()
      load_main('local mh = require("mainhost")\nmh.sleep(10)\nLATE = true\nerror("late boom")\n')
      t.pump(function() return _G.LATE end, 5000, "the top level to resume")
      t.pump(function() return (t.quit_state()) end, 2000, "the host to quit")
      assert.are.same({ true, 1 }, { t.quit_state() })
    end)
  end)

  describe("t.reset", function()
    it("removes every ipcMain handler and listener, so the same main script loads again", function()
      local path = write_main(MAIN)
      t.load(path)
      t.reset()
      assert.are.equal(0, mh.ipcMain.listenerCount("remember"))
      local r = t.renderer()
      assert.matches("No handler registered for 'add'", error_of(r.invoke, r, "add", 1, 2), 1, true)
      t.load(path)  -- would raise "second handler for 'add'" had reset kept it
      assert.are.same({ 3 }, { r:invoke("add", 1, 2) })
    end)

    it("removes app listeners: a renderer made after it is not seen by the old script", function()
      load_main()
      t.reset()
      _G.LOG = {}
      t.renderer({ name = "late" })
      assert.are.same({}, _G.LOG)
    end)

    it("closes the renderers made before it", function()
      load_main()
      local r = t.renderer()
      t.reset()
      assert.matches("closed fake renderer", error_of(r.invoke, r, "add", 1, 2), 1, true)
    end)
  end)

  describe("quitting", function()
    it("shows app.quit(code) in t.quit_state() and the spec goes on", function()
      load_main()
      local r = t.renderer()
      assert.are.same({ false, 0 }, { t.quit_state() })
      r:send("quit", 3)
      assert.are.same({ true, 3 }, { t.quit_state() })
    end)

    it("runs the quit sequence: before-quit, the renderers gone, will-quit, quit with the code", function()
      load_main()
      local r = t.renderer({ name = "ui" })
      r:send("quit", 3)
      t.pump(function() return logged("quit 3") end, 5000, "the quit event")
      local order = {}
      for _, l in ipairs(_G.LOG) do
        if l == "before-quit" or l == "gone ui clean-exit 0" or l == "will-quit" or l == "quit 3" then
          order[#order + 1] = l
        end
      end
      assert.are.same({ "before-quit", "gone ui clean-exit 0", "will-quit", "quit 3" }, order)
    end)

    it("keeps quit_state() false when a before-quit listener calls preventDefault", function()
      load_main(MAIN .. '\nmh.app.on("before-quit", function(e) e.preventDefault() end)\n')
      local r = t.renderer()
      r:send("quit", 5)
      assert.are.same({ false, 0 }, { t.quit_state() })
      assert.are.same({ 3 }, { r:invoke("add", 1, 2) })
    end)

    it("shows app.exit(code) in t.quit_state() without ending the test process", function()
      load_main()
      local r = t.renderer()
      r:send("exit", 4)
      assert.are.same({ true, 4 }, { t.quit_state() })
    end)

    it("forgets a quit on t.reset: quit_state() is false again and new renderers work", function()
      load_main()
      t.renderer():send("quit", 3)
      t.reset()
      assert.are.same({ false, 0 }, { t.quit_state() })
      load_main()
      local r = t.renderer()
      assert.are.same({ 9 }, { r:invoke("add", 4, 5) })
      assert.are.equal(8, r:sendSync("double", 4))
    end)
  end)

  describe("t.pump", function()
    it("raises 'timed out waiting: MSG' instead of hanging when the condition never comes", function()
      assert.matches("timed out waiting: never", error_of(t.pump, function() return false end, 100, "never"), 1, true)
    end)
  end)
end)

-- ---- `mainhost test` on a user project -------------------------------------------------

local USER_MAIN = [==[
local mh = require("mainhost")
local total = 0
mh.ipcMain.handle("add", function(_, n)
  mh.sleep(5)
  total = total + n
  return total
end)
mh.ipcMain.on("get-total", function(e) e.returnValue = total end)
mh.ipcMain.on("hello", function(e, who) e.reply("greeting", "hello " .. who) end)
]==]

local USER_SPEC = [==[
local t = require("mainhost.test")

describe("main.lua", function()
  before_each(function() t.load("main.lua") end)
  after_each(t.reset)

  it("adds up what renderers invoke", function()
    local r = t.renderer({ name = "ui" })
    assert.are.same({ 2 }, { r:invoke("add", 2) })
    assert.are.same({ 5 }, { r:invoke("add", 3) })
    assert.are.equal(5, r:sendSync("get-total"))
  end)

  it("greets by reply", function()
    local r = t.renderer()
    r:send("hello", "ann")
    assert.are.equal("hello ann", r:received("greeting")[1].args[1])
  end)
end)
]==]

-- A real-process spec in the same project: MAINHOST_BIN is set by `mainhost test`.
local USER_APP_SPEC = [==[
local t = require("mainhost.test")

describe("the app with a real renderer", function()
  after_each(t.cleanup)

  it("runs", function()
    local r = t.run_app({
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.ipcMain.handle("ping", function() return "pong" end)
        mh.ipcMain.on("done", function() mh.app.quit(0) end)
      ]],
      ["ui.lua"] = [[
        local ipc = require("mainhost.renderer").ipcRenderer
        print(ipc.invoke("ping"))
        ipc.send("done")
      ]],
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
    })
    assert.is_false(r.timed_out)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("[ui] pong", r.stdout, 1, true)
  end)
end)
]==]

local function mainhost_test(files, args)
  local dir = t.write(t.tempdir(), files)
  local cmd = { t.bin, "test" }
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = a end
  local r = t.exec({ cmd = cmd, cwd = dir, timeout = 60000 })
  assert.is_false(r.timed_out, "mainhost test hung:\n" .. r.stdout .. r.stderr)
  r.all = r.stdout .. r.stderr
  return r
end

describe("mainhost test on a user project", function()
  after_each(t.cleanup)

  it("runs the project's spec/*_spec.lua, in-process and real-process, and exits 0 when they pass", function()
    local r = mainhost_test({
      ["main.lua"] = USER_MAIN,
      ["spec/main_spec.lua"] = USER_SPEC,
      ["spec/app_spec.lua"] = USER_APP_SPEC,
    })
    assert.are.equal(0, r.code, r.all)
    assert.matches("3 successes / 0 failures / 0 errors / 0 pending", r.stdout, 1, true)
  end)

  it("exits 1 and shows the failed assertion when a user spec fails", function()
    local broken = USER_SPEC:gsub('assert%.are%.same%(%{ 5 %}', 'assert.are.same({ 6 }')
    assert.are_not.equal(USER_SPEC, broken)
    local r = mainhost_test({ ["main.lua"] = USER_MAIN, ["spec/main_spec.lua"] = broken })
    assert.are.equal(1, r.code, r.all)
    assert.matches("1 success / 1 failure / 0 errors / 0 pending", r.stdout, 1, true)
    assert.matches("adds up what renderers invoke", r.all, 1, true)
  end)

  it("exits 1 when a spec file does not compile", function()
    local r = mainhost_test({ ["main.lua"] = USER_MAIN, ["spec/bad_spec.lua"] = "describe('x', function(\n" })
    assert.are.equal(1, r.code, r.all)
    assert.matches("1 error", r.stdout, 1, true)
  end)

  it("passes its arguments to busted: a file name runs only that file", function()
    local r = mainhost_test({
      ["main.lua"] = USER_MAIN,
      ["spec/main_spec.lua"] = USER_SPEC,
      ["spec/other_spec.lua"] = 'it("fails", function() assert.is_true(false) end)',
    }, { "spec/main_spec.lua" })
    assert.are.equal(0, r.code, r.all)
    assert.matches("2 successes / 0 failures", r.stdout, 1, true)
  end)

  it("tells a spec run by plain busted, outside mainhost test, that t.renderer needs mainhost test", function()
    local found = assert(require("luv").fs_realpath(assert(package.searchpath("mainhost.test", package.path))))
    local luadir = found:match("^(.*)/mainhost/test%.lua$")
    local dir = t.write(t.tempdir(), { ["main.lua"] = USER_MAIN, ["spec/main_spec.lua"] = USER_SPEC })
    local r = t.exec({
      cmd = { "lua5.4", "/usr/bin/busted", "spec/main_spec.lua" },
      cwd = dir,
      env = { "LUA_PATH_5_4=" .. luadir .. "/?.lua;" .. luadir .. "/?/init.lua;;" },
      timeout = 60000,
    })
    assert.is_false(r.timed_out)
    assert.are_not.equal(0, r.code)
    assert.matches("in-process renderers need the specs to run under `mainhost test`", r.stdout .. r.stderr, 1, true)
  end)
end)
