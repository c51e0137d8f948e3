-- Renderer lifecycle end to end, with real hosts and real renderer
-- processes: webContents events and methods, every render-process-gone
-- reason, restarts and their limit, renderers created from Lua, the
-- per-renderer IPC scope, the app's events and quit sequence, signals to the
-- host, and that no renderer outlives its host (checked by pid).
--
-- No sleeps and no timings: the host is driven by what its main script
-- writes (stdout, or a file the spec waits for with t.wait_for), and the
-- timeouts below only guard against hangs.
local t = require("mainhost.test")
local uv = require("luv")

local COUNTERS = { "MAINHOST_COUNTERS=1" }
local NO_LEAKS = "mainhost: at exit: 0 live Lua refs, 0 open handles"

-- Instruments the main script: every webContents made, every event on it,
-- and the app's events, one line each on stdout.
local MAIN_PRELUDE = [==[
local mh = require("mainhost")
local app, ipcMain, webContents = mh.app, mh.ipcMain, mh.webContents
local uv = require("luv")
local function log(fmt, ...) print("main: " .. fmt:format(...)) end
app.on("web-contents-created", function(_, wc)
  log("created %s id=%d loading=%s", wc.name, wc.id, tostring(wc.isLoading()))
  wc.on("did-finish-load", function()
    log("did-finish-load %s id=%d loading=%s", wc.name, wc.id, tostring(wc.isLoading()))
  end)
  wc.on("render-process-gone", function(_, d)
    log("gone %s id=%d reason=%s exitCode=%s signal=%s restarting=%s crashed=%s error=%s", wc.name, wc.id,
      tostring(d.reason), tostring(d.exitCode), tostring(d.signal), tostring(d.restarting),
      tostring(wc.isCrashed()), tostring(d.error))
  end)
  wc.on("destroyed", function() log("destroyed %s id=%d", wc.name, wc.id) end)
end)
for _, name in ipairs({ "ready", "before-quit", "will-quit" }) do
  app.on(name, function() log("app %s", name) end)
end
app.on("quit", function(_, code) log("app quit %s", tostring(code)) end)
-- Schedules fn on the loop (after the current event is over).
local function later(fn)
  local tm = uv.new_timer()
  tm:start(0, 0, function() tm:close() fn() end)
end
]==]

local UI_HEAD = 'local R = require("mainhost.renderer")\nlocal ipc = R.ipcRenderer\n'

-- A frame of the wire protocol's "send" message, for sh renderers (fd 3).
local function sh_send(ch)
  return ([[printf '%%s\n' '{"k":"send","ch":"%s","args":[]}' >&3]]):format(ch)
end

-- A command renderer that reads nothing, ignores SIGTERM, and says "armed"
-- once the trap is set; only SIGKILL ends it.
local STUBBORN = { "sh", "-c", "trap '' TERM; " .. sh_send("armed") .. "; while true; do sleep 1; done" }

-- Processes a spec started and must not leave behind, whatever happens.
local watched = {}
local function watch(pid)
  watched[#watched + 1] = pid
  return pid
end
local function reap_watched()
  for _, pid in ipairs(watched) do
    if t.alive(pid) then
      uv.kill(-pid, "sigkill") -- its process group (a renderer leads one)
      uv.kill(pid, "sigkill")
    end
  end
  watched = {}
end

-- Pids of the live processes whose process group is pgid.
local function group_members(pgid)
  local out = {}
  local dir = uv.fs_scandir("/proc")
  while dir do
    local name = uv.fs_scandir_next(dir)
    if not name then break end
    if name:match("^%d+$") then
      local f = io.open("/proc/" .. name .. "/stat", "r")
      if f then
        local s = f:read("a") or ""
        f:close()
        local state, pgrp = s:match("^%d+ %b() (%a) %d+ (%d+)")
        if state and state ~= "Z" and tonumber(pgrp) == pgid then out[#out + 1] = tonumber(name) end
      end
    end
  end
  return out
end

local function wait_gone(pid, what)
  t.wait_for(function() return not t.alive(pid) end, 10000, what .. " (pid " .. pid .. ") to be gone")
end

local function line_at(text, line)
  for i, l in ipairs(t.lines(text)) do
    if l == line then return i end
  end
end

local function assert_line(r, line)
  local i = line_at(r.stdout, line)
  assert(i, ("expected the line\n  %s\nin\n%s"):format(line, r.stdout .. r.stderr))
  return i
end

local function assert_no_line(r, line)
  assert(not line_at(r.stdout, line), ("did not expect the line\n  %s\nin\n%s"):format(line, r.stdout .. r.stderr))
end

-- Asserts that the lines appear in this order (each after the one before;
-- a line given twice must appear twice).
local function assert_order(r, ...)
  local lines = t.lines(r.stdout)
  local prev, prev_line = 0, "(the start)"
  for _, line in ipairs({ ... }) do
    local found
    for i = prev + 1, #lines do
      if lines[i] == line then
        found = i
        break
      end
    end
    assert(found, ("expected the line\n  %s\nafter\n  %s\nin\n%s"):format(line, prev_line, r.stdout .. r.stderr))
    prev, prev_line = found, line
  end
end

local function count_lines(r, pattern)
  local n = 0
  for _, l in ipairs(t.lines(r.stdout)) do
    if l:match(pattern) then n = n + 1 end
  end
  return n
end

-- The render-process-gone lines of the main prelude, in order.
local function gones(r)
  local out = {}
  for _, l in ipairs(t.lines(r.stdout)) do
    local name, id, reason, code, sig, restarting, crashed, err =
        l:match("^main: gone (%S+) id=(%d+) reason=(%S+) exitCode=(%S+) signal=(%S+) restarting=(%S+) crashed=(%S+) error=(.*)$")
    if name then
      out[#out + 1] = {
        name = name, id = tonumber(id), reason = reason, exitCode = tonumber(code), signal = sig,
        restarting = restarting, crashed = crashed, error = err,
      }
    end
  end
  return out
end

local function gone_of(r, name)
  local found
  for _, g in ipairs(gones(r)) do
    if g.name == name then
      assert(not found, ("renderer '%s' was reported gone twice:\n%s"):format(name, r.stdout .. r.stderr))
      found = g
    end
  end
  assert(found, ("no render-process-gone for '%s':\n%s"):format(name, r.stdout .. r.stderr))
  return found
end

local function assert_no_leaks(r)
  assert(r.stderr:find(NO_LEAKS, 1, true), "expected '" .. NO_LEAKS .. "' on stderr:\n" .. r.stdout .. r.stderr)
end

-- No leak, and nothing on the host's stderr but the MAINHOST_COUNTERS lines.
local function assert_only_counters(r)
  for _, l in ipairs(t.lines(r.stderr)) do
    assert(l == NO_LEAKS or l:match("^mainhost: at exit: %d+ loop turns$")
      or l:match("^%[[^]]+%] mainhost renderer: at exit: %d+ loop turns, %d+ waits in recv, %d+ invokes answered in place, "
        .. "%d+ spins, %d+ answered while spinning$"),
      "unexpected host message on stderr:\n" .. r.stderr)
  end
  assert_no_leaks(r)
end

-- Runs `mainhost DIR` on files written into a new directory (or opts.dir).
local function run(files, opts)
  opts = opts or {}
  local dir = opts.dir or t.tempdir()
  t.write(dir, files)
  -- A failure in on_start takes the host down first, so nothing is left
  -- running, and is raised once the host is reaped.
  local start_err
  local on_start = opts.on_start and function(pid)
    local ok, err = pcall(opts.on_start, pid)
    if not ok then
      start_err = err
      uv.kill(pid, "sigkill")
    end
  end
  local r = t.exec({ cmd = { t.bin, dir }, env = opts.env, timeout = opts.timeout or 30000, on_start = on_start })
  r.dir = dir
  if start_err then error(tostring(start_err) .. "\n" .. r.stdout .. r.stderr, 0) end
  assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
  return r
end

local function app(main, renderers, opts, extra)
  local files = { ["main.lua"] = MAIN_PRELUDE .. main }
  local conf = { main = "main.lua" }
  if renderers and #renderers > 0 then conf.renderers = renderers end
  if opts and opts.limits then conf.limits = opts.limits end
  files["mainhost.json"] = conf
  for k, v in pairs(extra or {}) do files[k] = v end
  return run(files, opts)
end

local function ok_app(main, renderers, opts, extra)
  local r = app(main, renderers, opts, extra)
  assert.are.equal(0, r.code, r.stdout .. r.stderr)
  return r
end

-- Main-script code that writes `text` atomically to PATH (the spec waits
-- for that file before it signals the host).
local function writer(path)
  return ([==[
local function write_ready(text)
  local f = assert(io.open(%q, "w"))
  f:write(text)
  f:close()
  assert(os.rename(%q, %q))
end
]==]):format(path .. ".tmp", path .. ".tmp", path)
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

describe("renderer lifecycle", function()
  after_each(function()
    reap_watched()
    t.cleanup()
  end)

  describe("render-process-gone", function()
    it("says 'crashed' with the signal and 128+signal as exitCode for a renderer killed by SIGSEGV", function()
      local r = ok_app("", { { name = "segv", command = { "sh", "-c", "kill -SEGV $$" } } }, { env = COUNTERS })
      local g = gone_of(r, "segv")
      assert.are.equal("crashed", g.reason)
      assert.are.equal("SIGSEGV", g.signal)
      assert.are.equal(128 + 11, g.exitCode)
      assert.are.equal("false", g.restarting)
      assert.are.equal("true", g.crashed)
      assert_no_leaks(r)
    end)

    it("says 'abnormal-exit' with the status for a renderer that exits non-zero", function()
      local r = ok_app("", { { name = "three", command = { "sh", "-c", "exit 3" } } }, { env = COUNTERS })
      local g = gone_of(r, "three")
      assert.are.equal("abnormal-exit", g.reason)
      assert.are.equal(3, g.exitCode)
      assert.are.equal("nil", g.signal)
      assert.are.equal("true", g.crashed)
      assert_no_leaks(r)
    end)

    it("says 'abnormal-exit', not launch-failed, for exit 127 from a command that had already spoken", function()
      local r = ok_app("", { { name = "spoke", command = { "sh", "-c", "read -r hello <&3; " .. sh_send("hi") .. "; exit 127" } } })
      local g = gone_of(r, "spoke")
      assert.are.equal("abnormal-exit", g.reason)
      assert.are.equal(127, g.exitCode)
    end)

    it("says 'clean-exit' with exitCode 0 for a renderer that exits 0, and isCrashed stays false", function()
      local r = ok_app("", {
        { name = "sh0", command = { "sh", "-c", "exit 0" } },
        { name = "lua0", script = "ui.lua" },
      }, { env = COUNTERS }, { ["ui.lua"] = UI_HEAD .. "os.exit(0)\n" })
      for _, name in ipairs({ "sh0", "lua0" }) do
        local g = gone_of(r, name)
        assert.are.equal("clean-exit", g.reason)
        assert.are.equal(0, g.exitCode)
        assert.are.equal("nil", g.signal)
        assert.are.equal("false", g.crashed)
      end
      assert_no_leaks(r)
    end)

    it("says 'killed' with the signal for wc.kill() (SIGTERM by default) and wc.kill('SIGKILL'), which return true", function()
      local r = ok_app([==[
ipcMain.on("up", function(e)
  local wc = e.sender
  if wc.name == "k1" then log("kill k1 %s", tostring(wc.kill()))
  else log("kill k2 %s", tostring(wc:kill("SIGKILL"))) end
end)
]==], {
        { name = "k1", script = "ui.lua" },
        { name = "k2", script = "ui.lua" },
      }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. 'require("luv").new_timer():start(3600000, 0, function() end)\nipc.send("up")\n',
      })
      assert_line(r, "main: kill k1 true")
      assert_line(r, "main: kill k2 true")
      local g1, g2 = gone_of(r, "k1"), gone_of(r, "k2")
      assert.are.equal("killed", g1.reason)
      assert.are.equal("SIGTERM", g1.signal)
      assert.are.equal(128 + 15, g1.exitCode)
      assert.are.equal("killed", g2.reason)
      assert.are.equal("SIGKILL", g2.signal)
      assert.are.equal(128 + 9, g2.exitCode)
      assert_no_leaks(r)
    end)

    it("ends a renderer with forcefullyCrashRenderer(): it goes by a signal and isCrashed() is true", function()
      local r = ok_app([==[
ipcMain.on("up", function(e)
  e.sender.forcefullyCrashRenderer()
  log("crash requested")
end)
]==], { { name = "victim", script = "ui.lua" } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. 'require("luv").new_timer():start(3600000, 0, function() end)\nipc.send("up")\n',
      })
      assert_line(r, "main: crash requested")
      local g = gone_of(r, "victim")
      -- Electron on Linux crashes the renderer ('crashed'); a kill is 'killed'.
      assert.is_truthy(g.reason == "crashed" or g.reason == "killed", "reason " .. g.reason)
      assert.are_not.equal("nil", g.signal)
      assert.are.equal("true", g.crashed)
      assert_no_leaks(r)
    end)

    describe("launch-failed", function()
      it("is reported, with a message naming the program, for a program that does not exist; the others go on", function()
        local r = ok_app([==[
ipcMain.on("alive", function(e) log("alive %s", e.sender.name) app.quit() end)
]==], {
          { name = "missing", command = { "no-such-program-mainhost-spec" } },
          { name = "good", script = "ui.lua" },
        }, { env = COUNTERS }, { ["ui.lua"] = UI_HEAD .. 'ipc.send("alive")\n' })
        local g = gone_of(r, "missing")
        assert.are.equal("launch-failed", g.reason)
        assert.matches("no-such-program-mainhost-spec", g.error, 1, true)
        assert.are.equal("false", g.restarting)
        assert.matches("no-such-program-mainhost-spec", r.stderr, 1, true)
        assert_line(r, "main: alive good")
        assert_no_leaks(r)
      end)

      it("is reported, with a message naming the program, for a file that is not executable", function()
        local r = ok_app("", { { name = "noexec", command = { "./noexec.sh" } } }, { env = COUNTERS },
          { ["noexec.sh"] = "#!/bin/sh\necho should not run\n" })
        local g = gone_of(r, "noexec")
        assert.are.equal("launch-failed", g.reason)
        assert.matches("noexec.sh", g.error, 1, true)
        assert.not_matches("should not run", r.stdout, 1, true)
        assert_no_leaks(r)
      end)

      it("is reported, with a message naming the script, for a Lua renderer script with a syntax error", function()
        local r = ok_app([==[
ipcMain.on("alive", function(e) log("alive %s", e.sender.name) app.quit() end)
]==], {
          { name = "bad", script = "bad.lua" },
          { name = "good", script = "ui.lua" },
        }, { env = COUNTERS }, {
          ["bad.lua"] = "this is (not lua\n",
          ["ui.lua"] = UI_HEAD .. 'ipc.send("alive")\n',
        })
        local g = gone_of(r, "bad")
        assert.are.equal("launch-failed", g.reason)
        assert.matches("syntax error", r.stderr, 1, true)
        assert_line(r, "main: alive good")
        assert_no_leaks(r)
        assert.matches("bad.lua", g.error, 1, true)
      end)

      it("is reported for a command that exits 126 or 127 before it said anything", function()
        local r = ok_app("", {
          { name = "e126", command = { "sh", "-c", "exit 126" } },
          { name = "e127", command = { "sh", "-c", "exit 127" } },
        })
        assert.are.equal("launch-failed", gone_of(r, "e126").reason)
        assert.are.equal("launch-failed", gone_of(r, "e127").reason)
        assert.are.equal(127, gone_of(r, "e127").exitCode)
      end)
    end)
  end)

  describe("restart policy", function()
    it("restarts a failing renderer with restart='on-failure' up to maxRestarts, each time as a new webContents", function()
      local r = ok_app([==[
local seen = {}
app.on("web-contents-created", function(_, wc)
  if wc.name ~= "flaky" then return end
  for _, old in ipairs(seen) do
    log("new id %d differs from %d: %s, old destroyed: %s, fromId(old) nil: %s", wc.id, old.id,
      tostring(wc.id ~= old.id), tostring(old.isDestroyed()), tostring(webContents.fromId(old.id) == nil))
  end
  seen[#seen + 1] = wc
end)
]==], { { name = "flaky", command = { "sh", "-c", "exit 3" }, restart = "on-failure", maxRestarts = 2 } },
        { env = COUNTERS })
      local gs = gones(r)
      assert.are.equal(3, #gs, r.stdout .. r.stderr)
      assert.are.equal(3, count_lines(r, "^main: created flaky "), r.stdout)
      local ids = {}
      for i, g in ipairs(gs) do
        assert.are.equal("flaky", g.name)
        assert.are.equal("abnormal-exit", g.reason)
        assert.are.equal(i < 3 and "true" or "false", g.restarting, "restarting flag of try " .. i)
        assert.is_nil(ids[g.id], "webContents id reused")
        ids[g.id] = true
      end
      -- Each restart comes after the previous one is gone.
      assert_order(r,
        ("main: gone flaky id=%d reason=abnormal-exit exitCode=3 signal=nil restarting=true crashed=true error=nil"):format(gs[1].id),
        ("main: created flaky id=%d loading=true"):format(gs[2].id),
        ("main: gone flaky id=%d reason=abnormal-exit exitCode=3 signal=nil restarting=true crashed=true error=nil"):format(gs[2].id),
        ("main: created flaky id=%d loading=true"):format(gs[3].id))
      assert.are.equal(3, count_lines(r, "^main: new id %d+ differs from %d+: true, old destroyed: true, fromId%(old%) nil: true$"),
        r.stdout)
      assert_no_leaks(r)
    end)

    it("restarts a renderer that crashes by a signal under 'on-failure'", function()
      local r = ok_app("", { { name = "segv", command = { "sh", "-c", "kill -SEGV $$" }, restart = "on-failure", maxRestarts = 1 } },
        { env = COUNTERS })
      local gs = gones(r)
      assert.are.equal(2, #gs, r.stdout .. r.stderr)
      assert.are.equal("crashed", gs[1].reason)
      assert.are.equal("true", gs[1].restarting)
      assert.are.equal("false", gs[2].restarting)
      assert_no_leaks(r)
    end)

    it("does not restart a clean exit under 'on-failure', restarts it under 'always', and never restarts under 'never'", function()
      local r = ok_app("", {
        { name = "onfail", command = { "sh", "-c", "exit 0" }, restart = "on-failure", maxRestarts = 3 },
        { name = "always", command = { "sh", "-c", "exit 0" }, restart = "always", maxRestarts = 1 },
        { name = "never", command = { "sh", "-c", "exit 4" }, restart = "never", maxRestarts = 3 },
        { name = "default", command = { "sh", "-c", "exit 4" } },
      }, { env = COUNTERS })
      assert.are.equal(1, count_lines(r, "^main: created onfail "), r.stdout)
      assert.are.equal(2, count_lines(r, "^main: created always "), r.stdout)
      assert.are.equal(1, count_lines(r, "^main: created never "), r.stdout)
      assert.are.equal(1, count_lines(r, "^main: created default "), r.stdout)
      assert.are.equal("false", gone_of(r, "onfail").restarting)
      assert.are.equal("false", gone_of(r, "never").restarting)
      assert.are.equal("false", gone_of(r, "default").restarting)
      assert.are.equal(1, count_lines(r, "^main: gone always .* restarting=true "), r.stdout)
      assert.are.equal(1, count_lines(r, "^main: gone always .* restarting=false "), r.stdout)
      assert_no_leaks(r)
    end)

    it("connects a restarted Lua renderer to the main script under its new id", function()
      local r = ok_app([==[
ipcMain.handle("hi", function(e) log("hi from id=%d", e.sender.id) return true end)
]==], { { name = "ui", script = "ui.lua", restart = "on-failure", maxRestarts = 1 } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. [==[
ipc.invoke("hi")
os.exit(2)
]==],
      })
      assert_line(r, "main: hi from id=1")
      assert_line(r, "main: hi from id=2")
      local gs = gones(r)
      assert.are.equal(2, #gs, r.stdout .. r.stderr)
      assert.are.same({ 1, 2 }, { gs[1].id, gs[2].id })
      assert.are.same({ "true", "false" }, { gs[1].restarting, gs[2].restarting })
      assert_no_leaks(r)
    end)

    it("gives a restarted renderer's send, sendSync and invoke events the new process's pid as event.processId "
      .. "and its new webContents as event.sender, and sends event.reply to the new process, for a config entry "
      .. "that exits and a createRenderer one that is crashed", function()
      local r = ok_app([==[
local runs, first_pid, finished = {}, {}, 0
ipcMain.handle("run", function(e)
  runs[e.sender.name] = (runs[e.sender.name] or 0) + 1
  return runs[e.sender.name]
end)
local function check(kind, e, run, pid, id)
  local s = e.sender
  local name = s.name
  if run == 1 and kind == "send" then first_pid[name] = e.processId end
  log("%s run=%d %s id=%d own=%s pid=%s os=%s live=%s new=%s", name, run, kind, s.id, tostring(s.id == id),
    tostring(e.processId == pid), tostring(s.getOSProcessId() == e.processId),
    tostring(webContents.fromId(s.id) == s and not s.isDestroyed()),
    run == 1 and "-" or tostring(e.processId ~= first_pid[name]))
end
ipcMain.on("who", function(e, run, pid, id)
  check("send", e, run, pid, id)
  e.reply("ack", e.processId)
end)
ipcMain.on("who-sync", function(e, run, pid, id)
  check("sendSync", e, run, pid, id)
  e.returnValue = e.processId
end)
ipcMain.handle("who", function(e, run, pid, id)
  check("invoke", e, run, pid, id)
  return e.processId
end)
ipcMain.on("crash-me", function(e) e.sender.forcefullyCrashRenderer() end)
ipcMain.on("finished", function()
  finished = finished + 1
  if finished == 2 then app.quit() end
end)
app.on("ready", function()
  mh.createRenderer({ name = "made", script = "ui.lua", restart = "on-failure", maxRestarts = 1 })
end)
]==], { { name = "conf", script = "ui.lua", restart = "on-failure", maxRestarts = 1 } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. [==[
local pid = math.tointeger(require("luv").os_getpid())
local run = ipc.invoke("run")
ipc.on("ack", function(_, reply_pid)
  local sync_pid = ipc.sendSync("who-sync", run, pid, R.id)
  local invoke_pid = ipc.invoke("who", run, pid, R.id)
  print(("run=%d reply=%s sendSync=%s invoke=%s"):format(run, tostring(reply_pid == pid),
    tostring(sync_pid == pid), tostring(invoke_pid == pid)))
  io.stdout:flush()
  if run == 2 then
    ipc.send("finished")
  elseif R.name == "conf" then
    os.exit(2)
  else
    ipc.send("crash-me")
  end
end)
ipc.send("who", run, pid, R.id)
]==],
      })
      for _, name in ipairs({ "conf", "made" }) do
        local ids = {}
        for run = 1, 2 do
          for _, kind in ipairs({ "send", "sendSync", "invoke" }) do
            local pat = ("^main: %s run=%d %s id=(%%d+) own=true pid=true os=true live=true new=%s$"):format(
              name, run, kind, run == 1 and "%-" or "true")
            local found
            for _, l in ipairs(t.lines(r.stdout)) do
              found = found or l:match(pat)
            end
            assert(found, ("no line matching\n  %s\nin\n%s"):format(pat, r.stdout .. r.stderr))
            ids[run] = ids[run] or found
            assert.are.equal(ids[run], found, "the events of one run have one sender")
          end
          assert_line(r, ("[%s] run=%d reply=true sendSync=true invoke=true"):format(name, run))
        end
        assert.are_not.equal(ids[1], ids[2], "a restart makes a new webContents")
      end
      local first = {}
      for _, g in ipairs(gones(r)) do first[g.name] = first[g.name] or g end
      assert.are.same({ "abnormal-exit", "true" }, { first.conf.reason, first.conf.restarting })
      assert.are.same({ "killed", "true" }, { first.made.reason, first.made.restarting })
      assert.are.equal(2, count_lines(r, "^main: gone conf "), r.stdout)
      assert.are.equal(2, count_lines(r, "^main: gone made "), r.stdout)
      assert_no_leaks(r)
    end)

    it("does not restart a renderer closed with wc.close(), even under 'always'", function()
      local r = ok_app([==[
ipcMain.on("up", function(e) log("closing id=%d", e.sender.id) e.sender.close() end)
]==], { { name = "ui", script = "ui.lua", restart = "always", maxRestarts = 5 } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. 'require("luv").new_timer():start(3600000, 0, function() end)\nipc.send("up")\n',
      })
      assert.are.equal(1, count_lines(r, "^main: created ui "), r.stdout)
      local g = gone_of(r, "ui")
      assert.are.equal("clean-exit", g.reason)
      assert.are.equal("false", g.restarting)
      assert.not_matches("SIGTERM", r.stderr, 1, true)
      assert_no_leaks(r)
    end)
  end)

  describe("webContents", function()
    it("emits did-finish-load once the renderer's runtime connects, before its first message, and only then stops loading", function()
      local r = ok_app([==[
local n = 0
ipcMain.on("first", function(e)
  log("first from %s loading=%s", e.sender.name, tostring(e.sender.isLoading()))
  n = n + 1
  if n == 2 then app.quit() end
end)
]==], {
        { name = "ui", script = "ui.lua" },
        { name = "raw", command = { "sh", "-c", sh_send("first") .. "; read -r hello <&3; read -r eof <&3" } },
        { name = "mute", command = { "sh", "-c", "read -r hello <&3; exit 0" } },
      }, nil, { ["ui.lua"] = UI_HEAD .. 'ipc.send("first")\n' })
      for _, name in ipairs({ "ui", "raw" }) do
        local id = assert(r.stdout:match("main: created " .. name .. " id=(%d+)"))
        assert_order(r,
          ("main: created %s id=%s loading=true"):format(name, id),
          ("main: did-finish-load %s id=%s loading=false"):format(name, id),
          ("main: first from %s loading=false"):format(name))
        assert.are.equal(1, count_lines(r, "^main: did%-finish%-load " .. name .. " "), r.stdout)
      end
      assert.are.equal(0, count_lines(r, "^main: did%-finish%-load mute "), r.stdout)
    end)

    it("emits render-process-gone then destroyed, and afterwards isDestroyed() is true, fromId() is nil and send() raises", function()
      local r = ok_app([==[
local kept = {}
app.on("web-contents-created", function(_, wc)
  kept[#kept + 1] = wc
  log("at start %s destroyed=%s crashed=%s", wc.name, tostring(wc.isDestroyed()), tostring(wc.isCrashed()))
end)
app.on("before-quit", function()
  for _, wc in ipairs(kept) do
    local ok, err = pcall(wc.send, "x")
    log("after %s destroyed=%s crashed=%s fromId=%s all=%d send=%s", wc.name, tostring(wc.isDestroyed()),
      tostring(wc.isCrashed()), tostring((webContents.fromId(wc.id))), #webContents.getAllWebContents(),
      ok and "ok" or tostring(err):match("Object has been destroyed") or tostring(err))
  end
end)
]==], {
        { name = "crash", command = { "sh", "-c", "kill -SEGV $$" } },
        { name = "clean", command = { "sh", "-c", "exit 0" } },
      }, { env = COUNTERS })
      for _, name in ipairs({ "crash", "clean" }) do
        local id = assert(r.stdout:match("main: created " .. name .. " id=(%d+)"))
        local g = gone_of(r, name)
        assert_order(r,
          ("main: at start %s destroyed=false crashed=false"):format(name),
          ("main: gone %s id=%s reason=%s exitCode=%d signal=%s restarting=false crashed=%s error=nil"):format(
            name, id, g.reason, g.exitCode, g.signal, name == "crash" and "true" or "false"),
          ("main: destroyed %s id=%s"):format(name, id),
          ("main: after %s destroyed=true crashed=%s fromId=nil all=0 send=Object has been destroyed"):format(
            name, name == "crash" and "true" or "false"))
      end
      assert_no_leaks(r)
    end)

    it("gives the renderer's OS pid from getOSProcessId() and getProcessId(), as event.processId does", function()
      local r = ok_app([==[
ipcMain.on("pid", function(e, pid)
  log("os=%s proc=%s event=%s", tostring(e.sender.getOSProcessId() == pid), tostring(e.sender:getProcessId() == pid),
    tostring(e.processId == pid))
  app.quit()
end)
]==], { { name = "ui", script = "ui.lua" } }, nil, {
        ["ui.lua"] = UI_HEAD .. 'ipc.send("pid", require("luv").os_getpid())\n',
      })
      assert_line(r, "main: os=true proc=true event=true")
    end)

    it("delivers sendToFrame to the ipcRenderer of that frame only", function()
      local r = ok_app([==[
ipcMain.on("up", function(e)
  e.sender.sendToFrame(2, "tf", "for two")
  e.sender:sendToFrame(1, "tf", "for one")
end)
ipcMain.on("done", function() app.quit() end)
]==], { { name = "ui", script = "ui.lua" } }, nil, {
        ["ui.lua"] = UI_HEAD .. [==[
local f2 = R.openFrame()
f2.ipcRenderer.on("tf", function(_, s) print("frame 2 got " .. s) end)
ipc.on("tf", function(_, s) print("frame 1 got " .. s) ipc.send("done") end)
ipc.send("up")
]==],
      })
      assert_order(r, "[ui] frame 2 got for two", "[ui] frame 1 got for one")
      assert_no_line(r, "[ui] frame 1 got for two")
      assert_no_line(r, "[ui] frame 2 got for one")
    end)

    it("emits ipc-message on the webContents before webContents.ipc and ipcMain listeners run", function()
      local r = ok_app([==[
app.on("web-contents-created", function(_, wc)
  wc.on("ipc-message", function(e, ch, a, b)
    log("ipc-message %s %s %s same-sender=%s", ch, tostring(a), tostring(b), tostring(e.sender == wc))
  end)
  wc.ipc.on("note", function(e, a) log("wc.ipc note %s", tostring(a)) end)
end)
ipcMain.on("note", function(e, a) log("ipcMain note %s", tostring(a)) app.quit() end)
]==], { { name = "ui", script = "ui.lua" } }, nil, { ["ui.lua"] = UI_HEAD .. 'ipc.send("note", 1, "two")\n' })
      assert_order(r, "main: ipc-message note 1 two same-sender=true", "main: wc.ipc note 1", "main: ipcMain note 1")
    end)

    it("emits ipc-message-sync on the webContents, whose listener can answer sendSync through event.returnValue", function()
      local r = ok_app([==[
app.on("web-contents-created", function(_, wc)
  wc.on("ipc-message-sync", function(e, ch, x)
    log("ipc-message-sync %s %s", ch, tostring(x))
    if ch == "square" then e.returnValue = x * x end
  end)
end)
ipcMain.on("both", function(e, x) log("ipcMain both %s", tostring(x)) e.returnValue = "from ipcMain" end)
ipcMain.on("done", function() app.quit() end)
]==], { { name = "ui", script = "ui.lua" } }, nil, {
        ["ui.lua"] = UI_HEAD .. [==[
print("square " .. tostring(ipc.sendSync("square", 7)))
print("both " .. tostring(ipc.sendSync("both", 3)))
ipc.send("done")
]==],
      })
      assert_line(r, "main: ipc-message-sync square 7")
      assert_line(r, "[ui] square 49")
      assert_order(r, "main: ipc-message-sync both 3", "main: ipcMain both 3", "[ui] both from ipcMain")
    end)
  end)

  describe("webContents.ipc", function()
    local MAIN = [==[
app.on("web-contents-created", function(_, wc)
  if wc.name ~= "a" then return end
  wc.ipc.on("note", function(e, x) log("wc.ipc note from %s %s", e.sender.name, x) end)
  wc.ipc.handle("which", function(e, x) return "wc.ipc " .. x end)
end)
ipcMain.on("note", function(e, x) log("ipcMain note from %s %s", e.sender.name, x) end)
ipcMain.handle("which", function(e, x) return "ipcMain " .. x end)
ipcMain.handle("other", function(e, x) return "ipcMain other " .. x end)
local done = 0
ipcMain.on("done", function() done = done + 1 if done == 2 then app.quit() end end)
]==]
    local UI = UI_HEAD .. [==[
local me = R.name
ipc.send("note", me)
print("which " .. ipc.invoke("which", me))
print("other " .. ipc.invoke("other", me))
ipc.send("done")
]==]

    it("runs a renderer's webContents.ipc listeners first, then ipcMain's, for messages from that renderer only", function()
      local r = ok_app(MAIN, { { name = "a", script = "ui.lua" }, { name = "b", script = "ui.lua" } }, nil, { ["ui.lua"] = UI })
      assert_order(r, "main: wc.ipc note from a a", "main: ipcMain note from a a")
      assert_line(r, "main: ipcMain note from b b")
      assert_no_line(r, "main: wc.ipc note from b b")
    end)

    it("answers invoke with the webContents.ipc handler before ipcMain's, and falls back to ipcMain without one", function()
      local r = ok_app(MAIN, { { name = "a", script = "ui.lua" }, { name = "b", script = "ui.lua" } },
        { env = COUNTERS }, { ["ui.lua"] = UI })
      assert_line(r, "[a] which wc.ipc a")
      assert_line(r, "[a] other ipcMain other a")
      assert_line(r, "[b] which ipcMain b")
      assert_line(r, "[b] other ipcMain other b")
      assert_no_leaks(r)
    end)
  end)

  describe("createRenderer", function()
    it("returns a webContents at once and delivers what was sent before the renderer was ready, in order", function()
      local r = ok_app([==[
local wc = mh.createRenderer({ name = "late", script = "late.lua", args = { "x", "y z" }, env = { GREETING = "hello" } })
log("returned %s id=%d loading=%s destroyed=%s", wc.name, wc.id, tostring(wc.isLoading()), tostring(wc.isDestroyed()))
for i = 1, 5 do wc.send("n", i) end
local finished = 0
local function finish() finished = finished + 1 if finished == 2 then app.quit() end end
ipcMain.on("all", function(e) log("late says all from id=%d same=%s", e.sender.id, tostring(e.sender == wc)) finish() end)
app.on("ready", function()
  -- After ready too, and for a command renderer.
  local c = mh.createRenderer({ name = "cmd", command = { "sh", "-c",
    'read -r hello <&3; for i in 1 2 3; do read -r line <&3; printf "%s\\n" "$line"; done' } })
  c.send("m", "first")
  c.send("m", "second")
  c.send("m", "third")
  c.on("render-process-gone", function(_, d) finish() end)
end)
]==], nil, { env = COUNTERS }, {
        ["late.lua"] = UI_HEAD .. [==[
local args = { ... }
print("args " .. table.concat(args, "|") .. " arg " .. tostring(arg[1]) .. "|" .. tostring(arg[2]) .. " env " .. tostring(os.getenv("GREETING")))
local got = {}
ipc.on("n", function(_, i)
  got[#got + 1] = i
  if #got == 5 then
    print("got " .. table.concat(got, " "))
    ipc.send("all")
  end
end)
]==],
      })
      local id = assert(r.stdout:match("main: returned late id=(%d+)"), r.stdout)
      assert_order(r, ("main: created late id=%s loading=true"):format(id),
        ("main: returned late id=%s loading=true destroyed=false"):format(id))
      assert_line(r, "[late] args x|y z arg x|y z env hello")
      assert_line(r, "[late] got 1 2 3 4 5")
      assert_line(r, ("main: late says all from id=%s same=true"):format(id))
      assert_order(r, '[cmd] {"k":"msg","ch":"m","args":["first"]}', '[cmd] {"k":"msg","ch":"m","args":["second"]}',
        '[cmd] {"k":"msg","ch":"m","args":["third"]}')
      assert_no_leaks(r)
    end)
  end)

  describe("app", function()
    it("runs app.whenReady() from the main script's top level and resumes after ready, with the configured renderers made", function()
      local r = ok_app([==[
log("top isReady=%s", tostring(app.isReady()))
app.whenReady()
log("whenReady returned isReady=%s renderers=%d", tostring(app.isReady()), #webContents.getAllWebContents())
ipcMain.on("hi", function()
  app.whenReady()
  log("whenReady in a listener returned at once")
  app.quit()
end)
]==], { { name = "ui", script = "ui.lua" }, { name = "ui2", script = "ui.lua", args = { "quiet" } } }, nil, {
        ["ui.lua"] = UI_HEAD .. 'if ... ~= "quiet" then ipc.send("hi") end\n',
      })
      assert_order(r, "main: top isReady=false", "main: created ui id=1 loading=true", "main: created ui2 id=2 loading=true",
        "main: app ready", "main: whenReady returned isReady=true renderers=2", "main: whenReady in a listener returned at once")
    end)

    it("quits with before-quit, the renderers' exit, will-quit, then quit with the code, and exits with that code", function()
      local r = app([==[
ipcMain.on("quit", function() app.quit(5) end)
]==], { { name = "ui", script = "ui.lua", restart = "always" } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. 'ipc.send("quit")\n',
      })
      assert.are.equal(5, r.code, r.stdout .. r.stderr)
      assert_order(r, "main: app before-quit",
        "main: gone ui id=1 reason=clean-exit exitCode=0 signal=nil restarting=false crashed=false error=nil",
        "main: app will-quit", "main: app quit 5")
      assert.are.equal(1, count_lines(r, "^main: created ui "), r.stdout)
      assert_no_leaks(r)
    end)

    it("keeps running, renderers and all, when a before-quit listener calls preventDefault", function()
      local r = app([==[
local n = 0
app.on("before-quit", function(e)
  n = n + 1
  if n == 1 then e.preventDefault() log("prevented") end
end)
ipcMain.on("quit", function(e, code)
  log("quit request %d from %s", code, e.sender.name)
  app.quit(code)
  if code == 1 then e.sender.send("still") end
end)
]==], { { name = "ui", script = "ui.lua" } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. [==[
ipc.on("still", function() print("still connected") ipc.send("quit", 4) end)
ipc.send("quit", 1)
]==],
      })
      assert.are.equal(4, r.code, r.stdout .. r.stderr)
      -- (The renderer's own line comes through another pipe: no order with main's.)
      assert_line(r, "[ui] still connected")
      assert_order(r, "main: quit request 1 from ui", "main: app before-quit", "main: prevented",
        "main: quit request 4 from ui", "main: app before-quit",
        "main: gone ui id=1 reason=clean-exit exitCode=0 signal=nil restarting=false crashed=false error=nil",
        "main: app will-quit", "main: app quit 4")
      assert.are.equal(1, count_lines(r, "^main: app will%-quit$"), r.stdout)
      assert.are.equal(1, count_lines(r, "^main: app quit "), r.stdout)
      assert_no_leaks(r)
    end)

    it("keeps running when a will-quit listener calls preventDefault, and can start renderers and quit again", function()
      local r = app([==[
local n = 0
app.on("will-quit", function(e)
  n = n + 1
  if n == 1 then
    e.preventDefault()
    log("will-quit prevented")
    later(function() mh.createRenderer({ name = "second", script = "ui.lua", args = { "6" } }) end)
  end
end)
ipcMain.on("quit", function(e, code) log("quit from %s", e.sender.name) app.quit(code) end)
]==], { { name = "first", script = "ui.lua", args = { "2" } } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. 'ipc.send("quit", tonumber(...))\n',
      })
      assert.are.equal(6, r.code, r.stdout .. r.stderr)
      assert_order(r, "main: quit from first", "main: app before-quit", "main: app will-quit", "main: will-quit prevented",
        "main: quit from second", "main: app before-quit", "main: app will-quit", "main: app quit 6")
      assert.are.equal(1, count_lines(r, "^main: app quit "), r.stdout)
      assert_no_line(r, "main: app quit 2")
      assert_no_leaks(r)
    end)

    it("exits at once with app.exit(code): no quit events, no render-process-gone, and no renderer left", function()
      local r = app([==[
local pids = {}
local function up(name, pid)
  pids[name] = pid
  if pids.stubborn and pids.ui then
    log("stubborn pid %d", pids.stubborn)
    log("lua pid %d", pids.ui)
    app.exit(7)
  end
end
ipcMain.on("armed", function(e) up("stubborn", e.processId) end)
ipcMain.on("lua-up", function(e, pid) up("ui", pid) end)
]==], {
        { name = "stubborn", command = STUBBORN },
        { name = "ui", script = "ui.lua" },
      }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. [==[
require("luv").new_timer():start(3600000, 0, function() end)
ipc.send("lua-up", require("luv").os_getpid())
]==],
      })
      local all = r.stdout .. r.stderr
      local spid = tonumber(r.stdout:match("main: stubborn pid (%d+)"))
      local lpid = tonumber(r.stdout:match("main: lua pid (%d+)"))
      if spid then watch(spid) end
      if lpid then watch(lpid) end
      assert.are.equal(7, r.code, all)
      assert(spid and lpid, "main did not report the pids:\n" .. all)
      for _, l in ipairs({ "main: app before-quit", "main: app will-quit" }) do assert_no_line(r, l) end
      assert.are.equal(0, count_lines(r, "^main: app quit "), all)
      assert.are.equal(0, #gones(r), all)
      wait_gone(spid, "the SIGTERM-ignoring renderer after app.exit")
      wait_gone(lpid, "the Lua renderer after app.exit")
      assert_no_leaks(r)
    end)

    it("quits by default once the last renderer is gone and nobody listens to 'all-renderers-gone'", function()
      local r = app("", { { name = "a", command = { "sh", "-c", "exit 0" } }, { name = "b", script = "ui.lua" } },
        { env = COUNTERS }, { ["ui.lua"] = UI_HEAD .. "os.exit(0)\n" })
      assert.are.equal(0, r.code, r.stdout .. r.stderr)
      local last_gone = math.max(
        assert_line(r, "main: gone a id=1 reason=clean-exit exitCode=0 signal=nil restarting=false crashed=false error=nil"),
        assert_line(r, "main: gone b id=2 reason=clean-exit exitCode=0 signal=nil restarting=false crashed=false error=nil"))
      assert(last_gone < assert_line(r, "main: app before-quit"), "quit began before the last renderer was gone:\n" .. r.stdout)
      assert_order(r, "main: app before-quit", "main: app will-quit", "main: app quit 0")
      assert_no_leaks(r)
    end)

    it("does not quit when the last renderer is gone and an 'all-renderers-gone' listener decides otherwise", function()
      local r = app([==[
local n = 0
app.on("all-renderers-gone", function()
  n = n + 1
  log("all-renderers-gone %d, live %d", n, #webContents.getAllWebContents())
  if n == 1 then mh.createRenderer({ name = "second", script = "ui.lua" }) end
end)
ipcMain.on("bye", function(e) log("bye from %s", e.sender.name) app.quit(3) end)
]==], { { name = "first", command = { "sh", "-c", "exit 0" } } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. 'ipc.send("bye")\n',
      })
      assert.are.equal(3, r.code, r.stdout .. r.stderr)
      assert_order(r, "main: gone first id=1 reason=clean-exit exitCode=0 signal=nil restarting=false crashed=false error=nil",
        "main: all-renderers-gone 1, live 0", "main: created second id=2 loading=true", "main: bye from second",
        "main: app before-quit", "main: app will-quit", "main: app quit 3")
      assert.are.equal(1, count_lines(r, "^main: all%-renderers%-gone "), r.stdout)
      assert.are.equal(1, count_lines(r, "^main: app before%-quit$"), r.stdout)
      assert_no_leaks(r)
    end)

    it("does not report all renderers gone while a restart is pending", function()
      local r = app([==[
app.on("all-renderers-gone", function() log("all-renderers-gone, created so far %d", #webContents.getAllWebContents()) app.quit() end)
]==], { { name = "flaky", command = { "sh", "-c", "exit 1" }, restart = "on-failure", maxRestarts = 2 } }, { env = COUNTERS })
      assert.are.equal(0, r.code, r.stdout .. r.stderr)
      assert.are.equal(3, count_lines(r, "^main: created flaky "), r.stdout)
      assert.are.equal(1, count_lines(r, "^main: all%-renderers%-gone"), r.stdout)
      assert_order(r, "main: gone flaky id=3 reason=abnormal-exit exitCode=1 signal=nil restarting=false crashed=true error=nil",
        "main: all-renderers-gone, created so far 0")
      assert_no_leaks(r)
    end)
  end)

  describe("signals and faults", function()
    -- The stubborn renderer's and the Lua renderer's pids go to a file once
    -- both are up; the spec waits for it, then signals the host.
    local function signalled_app(sig, limits)
      local dir = t.tempdir()
      local ready = dir .. "/ready"
      local pids
      local main = writer(ready) .. [==[
local pids = {}
local function up(name, pid)
  pids[name] = pid
  if pids.stubborn and pids.ui then write_ready(("%d %d"):format(pids.stubborn, pids.ui)) end
end
ipcMain.on("armed", function(e) up("stubborn", e.processId) end)
ipcMain.on("lua-up", function(e, pid) up("ui", pid) end)
]==]
      local r = app(main, {
        { name = "stubborn", command = STUBBORN },
        { name = "ui", script = "ui.lua" },
      }, {
        dir = dir,
        limits = limits,
        env = COUNTERS,
        timeout = 20000,
        on_start = function(hostpid)
          t.wait_for(function() return read_file(ready) ~= nil end, 10000, "the renderers to be up")
          local content = read_file(ready)
          local s, l = content:match("^(%d+) (%d+)$")
          assert(s, "ready file: " .. content)
          pids = { stubborn = watch(tonumber(s)), ui = watch(tonumber(l)) }
          uv.kill(hostpid, sig)
        end,
      }, {
        ["ui.lua"] = UI_HEAD .. 'require("luv").new_timer():start(3600000, 0, function() end)\nipc.send("lua-up", require("luv").os_getpid())\n',
      })
      return r, pids
    end

    it("runs the quit sequence on SIGTERM and kills a renderer that ignores SIGTERM after the grace period", function()
      local r, pids = signalled_app("sigterm", { quitTimeoutMs = 200 })
      local all = r.stdout .. r.stderr
      assert.are.equal(128 + 15, r.code, all)
      assert.are.equal(0, r.signal, all)
      local g = gone_of(r, "stubborn")
      assert.are.equal("killed", g.reason)
      assert.are.equal("SIGKILL", g.signal)
      assert.matches("stubborn.*sending SIGTERM", r.stderr)
      assert.matches("stubborn.*ignored SIGTERM; sending SIGKILL", r.stderr)
      assert.are.equal("clean-exit", gone_of(r, "ui").reason)
      assert_order(r, "main: app before-quit", "main: app will-quit", "main: app quit 143")
      assert(line_at(r.stdout, "main: app will-quit") > line_at(r.stdout,
        ("main: gone stubborn id=1 reason=killed exitCode=137 signal=SIGKILL restarting=false crashed=true error=nil")),
        "will-quit came before the stubborn renderer was gone:\n" .. all)
      wait_gone(pids.stubborn, "the SIGTERM-ignoring renderer")
      wait_gone(pids.ui, "the Lua renderer")
      t.wait_for(function() return #group_members(pids.stubborn) == 0 end, 10000,
        "the stubborn renderer's process group to be empty")
      assert_no_leaks(r)
    end)

    it("runs the quit sequence on SIGINT and exits 130", function()
      local r, pids = signalled_app("sigint", { quitTimeoutMs = 200 })
      local all = r.stdout .. r.stderr
      assert.are.equal(128 + 2, r.code, all)
      assert_order(r, "main: app before-quit", "main: app will-quit", "main: app quit 130")
      wait_gone(pids.stubborn, "the SIGTERM-ignoring renderer")
      wait_gone(pids.ui, "the Lua renderer")
      assert_no_leaks(r)
    end)

    it("leaves no renderer behind when the host dies by SIGKILL: Lua, a program ignoring SIGTERM, and Node", function()
      local has_node = os.execute("command -v node >/dev/null 2>&1")
      local dir = t.tempdir()
      local ready = dir .. "/ready"
      local main = writer(ready) .. ([==[
local want, got, list = %d, 0, {}
local function up(name, pid)
  got = got + 1
  list[#list + 1] = ("%%s=%%d"):format(name, pid)
  if got == want then write_ready(table.concat(list, " ")) end
end
ipcMain.on("armed", function(e) up(e.sender.name, e.processId) end)
ipcMain.on("lua-up", function(e, pid) up("ui", pid) end)
]==]):format(has_node and 3 or 2)
      local renderers = {
        { name = "stubborn", command = STUBBORN },
        { name = "ui", script = "ui.lua" },
      }
      if has_node then renderers[3] = { name = "node", command = { "node", "r.js" } } end
      local pids = {}
      local r = app(main, renderers, {
        dir = dir,
        timeout = 20000,
        on_start = function(hostpid)
          t.wait_for(function() return read_file(ready) ~= nil end, 10000, "the renderers to be up")
          for name, pid in read_file(ready):gmatch("(%S+)=(%d+)") do pids[name] = watch(tonumber(pid)) end
          uv.kill(hostpid, "sigkill")
        end,
      }, {
        ["ui.lua"] = UI_HEAD .. 'require("luv").new_timer():start(3600000, 0, function() end)\nipc.send("lua-up", require("luv").os_getpid())\n',
        ["r.js"] = 'process.on("message", () => {});\nprocess.send({ k: "send", ch: "armed", args: [] });\n',
      })
      assert.are.equal(9, r.signal, "the host was not killed by SIGKILL:\n" .. r.stdout .. r.stderr)
      assert(pids.stubborn and pids.ui, "the renderers did not report their pids")
      if has_node then assert(pids.node, "the Node renderer did not report its pid") end
      for name, pid in pairs(pids) do wait_gone(pid, "renderer '" .. name .. "' after its host was killed") end
    end)
  end)

  describe("pending work when a renderer dies", function()
    it("drops an invoke the renderer was waiting on, without an error in the host, when the handler returns after it died", function()
      local r = ok_app([==[
local gone, waiting = false, nil
app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function()
    gone = true
    if waiting then later(function() assert(coroutine.resume(waiting)) end) end
  end)
end)
ipcMain.handle("slow", function(e)
  e.sender.send("die")
  if not gone then
    waiting = coroutine.running()
    coroutine.yield()
  end
  log("handler returns after the renderer is gone: %s", tostring(gone))
  return "too late"
end)
]==], { { name = "ui", script = "ui.lua" } }, { env = COUNTERS }, {
        ["ui.lua"] = UI_HEAD .. [==[
ipc.on("die", function() os.exit(3) end)
print("never: " .. tostring(ipc.invoke("slow")))
]==],
      })
      assert_line(r, "main: handler returns after the renderer is gone: true")
      assert.not_matches("never:", r.stdout, 1, true)
      assert.are.equal("abnormal-exit", gone_of(r, "ui").reason)
      assert_only_counters(r)
    end)

    it("drops a sendSync reply that is set after the renderer died, without an error in the host", function()
      local r = ok_app([==[
local gone, waiting = false, nil
app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function()
    gone = true
    if waiting then later(function() assert(coroutine.resume(waiting)) end) end
  end)
end)
ipcMain.on("ask", function(e)
  if not gone then waiting = coroutine.running() coroutine.yield() end
  e.returnValue = "too late"
  log("returnValue set after the renderer is gone: %s", tostring(gone))
end)
]==], { { name = "raw", command = { "sh", "-c",
        [[read -r hello <&3; printf '%s\n' '{"k":"sync","ch":"ask","id":1,"args":[]}' >&3; exit 0]] } } },
        { env = COUNTERS })
      assert_line(r, "main: returnValue set after the renderer is gone: true")
      assert.are.equal("clean-exit", gone_of(r, "raw").reason)
      assert_only_counters(r)
    end)
  end)

  describe("arguments", function()
    it("passes a Lua renderer's config args to its script as ... and as the global arg table", function()
      local r = ok_app([==[
ipcMain.on("done", function() app.quit() end)
]==], { { name = "ui", script = "ui.lua", args = { "one", "two words", "" } } }, nil, {
        ["ui.lua"] = UI_HEAD .. [==[
print("dots " .. select("#", ...) .. " " .. table.concat({ ... }, "|"))
print("arg " .. #arg .. " " .. table.concat(arg, "|", 1, #arg))
print("arg[0] " .. arg[0])
ipc.send("done")
]==],
      })
      assert_line(r, "[ui] dots 3 one|two words|")
      assert_line(r, "[ui] arg 3 one|two words|")
      assert_line(r, "[ui] arg[0] " .. assert(uv.fs_realpath(r.dir)) .. "/ui.lua")
    end)
  end)
end)
