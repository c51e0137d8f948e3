-- The renderer launcher (host/mh_zygote.c): Lua renderers are forked from
-- one `mainhost --zygote` process per host instead of each exec'ing the
-- binary, so that they share one address-space layout (randomised per
-- run). Checked here: where renderers come from and what they look like
-- (parent, layout, command line, descriptors), that exits reported by the
-- launcher read as libuv's did, what happens when the launcher is killed,
-- and that MAINHOST_ZYGOTE=0 gives the exec'd renderers of before.
local t = require("mainhost.test")
local S = require("support.app")
local assert_line = S.assert_line

-- Lua for the apps below: where this process maps mainhost's executable,
-- its parent's pid, and a process's state letter ("gone" when it is).
local PROC = [[
local function exe_base()
  local exe = require("luv").fs_readlink("/proc/self/exe")
  for l in io.lines("/proc/self/maps") do
    if l:sub(-#exe) == exe then return l:match("^(%x+)") end
  end
end
local function ppid()
  local f = io.open("/proc/self/stat")
  local s = f:read("a")
  f:close()
  return tonumber(s:match("^%d+ %b() %a (%d+)"))
end
local function state(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return "gone" end
  local st = f:read("a"):match("^%d+ %b() (%a)")
  f:close()
  return st
end
]]

-- A renderer that tells main its parent, then waits (its channel keeps it).
local TELL_PARENT = S.UI_PRELUDE .. PROC .. 'ipc.send("parent", ppid())\n'

-- Runs an app whose main.lua is main after the preludes and PROC, with
-- renderers (config entries) whose scripts are TELL_PARENT unless
-- opts.files has them; opts: files, limits, env. Fails the spec unless
-- the app exits 0. Returns the result and all its output.
local function launch(main, renderers, opts)
  opts = opts or {}
  local files = opts.files or {}
  files["main.lua"] = S.MAIN_PRELUDE .. PROC .. main
  for _, rd in ipairs(renderers) do files[rd.script] = files[rd.script] or TELL_PARENT end
  files["mainhost.json"] = { main = "main.lua", limits = opts.limits, renderers = renderers }
  local r = S.app(files, { env = opts.env, timeout = 30000 })
  S.assert_ok(r)
  return r, r.stdout .. r.stderr
end

local UI = { { name = "ui", script = "ui.lua" } }

-- What a renderer reports of itself: its pid, its parent, where mainhost's
-- executable is mapped, and the kinds of its open descriptors.
local WHOAMI = S.UI_PRELUDE .. PROC .. [[
local function fd_kinds()
  local kinds = {}
  local dir = uv.fs_scandir("/proc/self/fd")
  while true do
    local name = uv.fs_scandir_next(dir)
    if not name then break end
    local target = uv.fs_readlink("/proc/self/fd/" .. name)
    if target then
      kinds[#kinds + 1] = name .. "=" .. (target:match("^([%a_]+):") or target:match("^anon_inode:(.*)") or target)
    end
  end
  table.sort(kinds)
  return table.concat(kinds, ",")
end
-- An invoke: main looks at this process while it waits for the answer.
ipc.invoke("whoami", uv.os_getpid(), ppid(), exe_base(), fd_kinds())
]]

local MAIN = [[
local n = 0
ipcMain.handle("whoami", function(e, pid, ppid, base, fds)
  pid = math.tointeger(pid) -- luv's getpid is a float
  local f = io.open("/proc/" .. ppid .. "/cmdline")
  local parent = f and f:read("a"):gsub("%z+$", ""):gsub("%z", " ") or "?"
  if f then f:close() end
  f = io.open("/proc/" .. pid .. "/cmdline")
  local raw = f:read("a")
  local cmdline = raw:gsub("%z+$", ""):gsub("%z", " ")
  f:close()
  say(e.sender.name, "rawcmd", (("%q"):format(raw):gsub("\\0", "<NUL>")))
  say(e.sender.name, "pid-matches", tostring(pid == e.processId))
  say(e.sender.name, "parent-is-host", tostring(ppid == uv.os_getpid()))
  say(e.sender.name, "parent", (parent:gsub("%s+$", "")))
  say(e.sender.name, "cmdline", cmdline)
  say(e.sender.name, "base", base, "host-base", exe_base())
  say(e.sender.name, "fds", fds)
  n = n + 1
  if n == 2 then uv.new_timer():start(0, 0, function() mh.app.quit() end) end
end)
]]

local function run(env)
  return (launch(MAIN, { { name = "a", script = "a.lua" }, { name = "b", script = "b.lua" } },
    { env = env, files = { ["a.lua"] = WHOAMI, ["b.lua"] = WHOAMI } }))
end

local function field(r, who, key)
  local all = r.stdout .. r.stderr
  for l in r.stdout:gmatch("[^\n]+") do
    local v = l:match("^main: " .. who .. " " .. key:gsub("%-", "%%-") .. " (.*)$")
    if v then return v end
  end
  error(("no line 'main: %s %s ...' in\n%s"):format(who, key, all))
end

local function aslr_on()
  local f = io.open("/proc/sys/kernel/randomize_va_space")
  local v = f and f:read("a") or "2"
  if f then f:close() end
  return tonumber(v) ~= 0
end

describe("the renderer launcher", function()
  after_each(t.cleanup)

  it("forks every Lua renderer from one launcher: one layout for all, not the host's", function()
    local r = run()
    for _, who in ipairs({ "a", "b" }) do
      assert.are.equal("true", field(r, who, "pid-matches"))
      assert.are.equal("false", field(r, who, "parent-is-host"))
      assert.truthy(field(r, who, "parent"):find("--zygote", 1, true), field(r, who, "parent"))
      -- ps shows what it runs, as an exec'd renderer's would be.
      local cmd = field(r, who, "cmdline")
      assert.truthy(cmd:find(" --renderer " .. r.dir .. "/" .. who .. ".lua", 1, true), cmd)
      -- one string, as setproctitle() leaves it: no trailing empty arguments
      assert.are.equal('"' .. t.bin .. " --renderer " .. r.dir .. "/" .. who .. '.lua<NUL>"', field(r, who, "rawcmd"))
    end
    assert.are.equal(field(r, "a", "parent"), field(r, "b", "parent"))
    local a = { field(r, "a", "base"):match("^(%x+) host%-base (%x+)$") }
    local b = { field(r, "b", "base"):match("^(%x+) host%-base (%x+)$") }
    assert.are.equal(a[1], b[1], "both renderers map mainhost at one address")
    if aslr_on() then assert.are_not.equal(a[1], a[2], "the host has a layout of its own") end
  end)

  it("gives a forked renderer the descriptors an exec'd one has, and no more", function()
    local forked = run()
    local execd = run({ "MAINHOST_ZYGOTE=0" })
    for _, who in ipairs({ "a", "b" }) do
      local fds = field(forked, who, "fds")
      assert.are.equal(field(execd, who, "fds"), fds)
      -- 0 /dev/null, 1 and 2 the output sockets, 3 the channel
      assert.truthy(fds:find("^0=/dev/null,1=socket,2=socket,3=socket,"), fds)
    end
  end)

  it("is not used with MAINHOST_ZYGOTE=0: each renderer is exec'd by the host", function()
    local r = run({ "MAINHOST_ZYGOTE=0" })
    for _, who in ipairs({ "a", "b" }) do
      assert.are.equal("true", field(r, who, "parent-is-host"))
      local cmd = field(r, who, "cmdline")
      assert.truthy(cmd:find(" --renderer " .. r.dir .. "/" .. who .. ".lua", 1, true), cmd)
    end
    if aslr_on() then
      local a = field(r, "a", "base"):match("^(%x+)")
      local b = field(r, "b", "base"):match("^(%x+)")
      assert.are_not.equal(a, b, "exec'd renderers have layouts of their own")
    end
  end)

  -- Exit statuses, signals and a script that does not load come back
  -- through the launcher's reports as they did through libuv.
  for _, mode in ipairs({ { "forked", nil }, { "exec'd", { "MAINHOST_ZYGOTE=0" } } }) do
    it("reports how a " .. mode[1] .. " renderer ended: a status, a signal, a script that does not load, a bad cwd",
      function()
        local r, all = launch([[
local left = 5
ipcMain.on("parent", function(_, ppid) say("alive parent-is-host", tostring(ppid == uv.os_getpid())) end)
mh.app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function(_, d)
    say(wc.name, d.reason, d.exitCode, d.signal or "-", d.error or "-")
    left = left - 1
    if left == 0 then mh.app.quit() end
  end)
end)
-- createRenderer checks nothing on disk (a config's cwd is checked at load).
mh.createRenderer({ name = "nowhere", script = "three.lua", cwd = "no/such/dir" })
]], {
          { name = "three", script = "three.lua" },
          { name = "alive", script = "alive.lua" },
          { name = "abrt", script = "abrt.lua" },
          { name = "broken", script = "broken.lua" },
        }, { env = mode[2], files = {
          ["three.lua"] = "os.exit(3)\n",
          ["alive.lua"] = TELL_PARENT .. "os.exit(0)\n",
          ["abrt.lua"] = 'local uv = require("luv") uv.kill(uv.os_getpid(), "sigabrt") uv.sleep(10000)\n',
          ["broken.lua"] = "this is not lua\n",
        } })
        assert_line(r.stdout, "main: alive parent-is-host " .. tostring(mode[2] ~= nil), all)
        assert_line(r.stdout, "main: alive clean-exit 0 - -", all)
        assert_line(r.stdout, "main: three abnormal-exit 3 - -", all)
        assert_line(r.stdout, "main: abrt crashed 134 SIGABRT -", all)
        local bad = assert(r.stdout:match("main: broken launch%-failed 127 %- ([^\n]*)"), all)
        assert.truthy(bad:find("could not start (exit status 127 before it sent anything", 1, true), bad)
        assert_line(r.stdout, "main: nowhere launch-failed 0 - cannot start '" .. t.bin ..
          "': no such file or directory", all)
      end)
  end

  it("stops its renderers when it is killed, and later renderers are exec'd", function()
    local r, all = launch([[
local round = 0
ipcMain.on("parent", function(e, ppid)
  round = round + 1
  say("round", round, "parent-is-host", tostring(ppid == uv.os_getpid()))
  if round == 1 then
    uv.kill(ppid, "sigkill") -- the launcher
  else
    mh.app.quit()
  end
end)
mh.app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function(_, d)
    say("gone", d.reason, d.signal or "-", tostring(d.restarting))
  end)
end)
]], { { name = "ui", script = "ui.lua", restart = "on-failure", maxRestarts = 1 } })
    assert_line(r.stdout, "main: round 1 parent-is-host false", all)
    assert_line(r.stderr, "mainhost: renderer 'ui' (id 1) is stopped: its launcher is gone", all)
    assert_line(r.stdout, "main: gone killed SIGTERM true", all) -- its parent-death signal
    assert_line(r.stdout, "main: round 2 parent-is-host true", all)
  end)

  it("execs a renderer whose launch finds the launcher gone, and stops the ones it had started", function()
    local r, all = launch([[
ipcMain.on("parent", function(e, ppid)
  if e.sender.name == "first" then
    uv.kill(ppid, "sigkill") -- the launcher: a zombie until the host's loop reaps it
    local deadline = os.time() + 10
    while state(ppid) ~= "Z" and state(ppid) ~= "gone" and os.time() < deadline do end
    mh.createRenderer({ name = "second", script = "ui.lua" })
  else
    say("second's parent-is-host", tostring(ppid == uv.os_getpid()))
    mh.app.quit()
  end
end)
mh.app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function(_, d) say("gone", wc.name, d.reason, d.signal or "-") end)
end)
]], { { name = "first", script = "ui.lua" } })
    assert.truthy(r.stderr:find("mainhost: the renderer launcher cannot be reached", 1, true), all)
    assert_line(r.stdout, "main: second's parent-is-host true", all)
    assert_line(r.stdout, "main: gone first killed SIGTERM", all)
    assert_line(r.stderr, "mainhost: renderer 'first' (id 1) is stopped: its launcher is gone", all)
  end)

  it("seeds math.random in each renderer: ten forked at once draw ten different numbers", function()
    local renderers = {}
    for i = 1, 10 do
      renderers[i] = { name = "r" .. i, script = "draw.lua" }
    end
    local r, all = launch([[
local seen, n = {}, 0
ipcMain.on("drew", function(_, x)
  n = n + 1
  if seen[x] then say("repeated", x) end
  seen[x] = true
  if n == 10 then say("drawn", n) mh.app.quit() end
end)
]], renderers, { files = { ["draw.lua"] = S.UI_PRELUDE .. 'ipc.send("drew", math.random(1, 1 << 62))\n' } })
    assert_line(r.stdout, "main: drawn 10", all)
    assert.falsy(r.stdout:find("main: repeated", 1, true), all)
  end)

  it("keeps none of the files main had open when it started", function()
    local r, all = launch([[
local path = os.tmpname()
local held = assert(io.open(path, "w")) -- Lua opens files without close-on-exec
ipcMain.on("parent", function(_, ppid)
  local dir, n = uv.fs_scandir("/proc/" .. ppid .. "/fd"), 0
  while true do
    local name = uv.fs_scandir_next(dir)
    if not name then break end
    local target = uv.fs_readlink("/proc/" .. ppid .. "/fd/" .. name) or ""
    if target == path then say("launcher holds", target) end
    n = n + 1
  end
  say("launcher fds", n)
  held:close()
  os.remove(path)
  mh.app.quit()
end)
]], UI)
    assert.falsy(r.stdout:find("main: launcher holds", 1, true), all)
    -- 0 and 1 /dev/null, 2 the host's stderr, 3 and 4 its channels, the signalfd
    assert_line(r.stdout, "main: launcher fds 6", all)
  end)

  it("does not let a stopped launcher hold a quit, nor give it up for that", function()
    local r, all = launch([[
ipcMain.on("parent", function(_, ppid)
  uv.kill(ppid, "sigstop") -- the launcher: it can no longer report the renderer's end
  mh.app.quit()
end)
]], UI, { limits = { quitTimeoutMs = 200 } })
    -- closed, then SIGTERM and SIGKILL 200 ms apart, then 200 ms for the report
    assert_line(r.stderr, "mainhost: renderer 'ui' (id 1): no end reported 200 ms after SIGKILL; taken as killed", all)
    assert.falsy(r.stderr:find("renderer launcher", 1, true), all)
  end)

  it("takes no other renderer down with one whose end comes late (quitTimeoutMs 0)", function()
    local r, all = launch([[
local wcs = {}
mh.app.on("web-contents-created", function(_, wc)
  wcs[wc.name] = wc
  wc.on("render-process-gone", function(_, d) say("gone", wc.name, d.reason) end)
end)
local ready = 0
ipcMain.on("parent", function()
  ready = ready + 1
  if ready < 2 then return end
  wcs.a.kill("SIGKILL")
  wcs.b.send("ping")
end)
ipcMain.on("pong", function() say("b answered") mh.app.quit() end)
]], { { name = "a", script = "a.lua" }, { name = "b", script = "b.lua" } }, {
      files = { ["b.lua"] = TELL_PARENT .. 'ipc.on("ping", function() ipc.send("pong") end)\n' },
      limits = { quitTimeoutMs = 0 },
    })
    assert_line(r.stdout, "main: gone a killed", all)
    assert_line(r.stdout, "main: b answered", all)
    assert.falsy(r.stderr:find("renderer launcher", 1, true), all)
    assert.falsy(r.stderr:find("its launcher is gone", 1, true), all)
  end)

  it("keeps an ended renderer's pid (a zombie) until the host has taken its end", function()
    local r, all = launch([[
ipcMain.on("parent", function(e)
  local pid = math.tointeger(e.processId)
  uv.kill(pid, "sigkill") -- while the host is busy here: it cannot have read the report
  local deadline = os.time() + 10
  while state(pid) ~= "Z" and state(pid) ~= "gone" and os.time() < deadline do end
  uv.sleep(100)
  say("while main is busy:", state(pid))
end)
mh.app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function(_, d)
    say("gone", d.reason, d.signal)
    mh.app.quit()
  end)
end)
]], UI)
    -- the launcher reaps it only when the host says it has the end: until
    -- then the pid (and its process group) cannot be reused
    assert_line(r.stdout, "main: while main is busy: Z", all)
    assert_line(r.stdout, "main: gone killed SIGKILL", all)
  end)

  it("does not give the launcher up when main held the host past quitTimeoutMs after a kill", function()
    local r, all = launch([[
ipcMain.on("parent", function(e, ppid)
  if e.sender.name == "first" then
    e.sender.kill("SIGKILL") -- the launcher reports it at once, but main holds the host
    uv.sleep(600)   -- three times limits.quitTimeoutMs
  else
    say("second's parent-is-host", tostring(ppid == uv.os_getpid()))
    mh.app.quit()
  end
end)
mh.app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function(_, d)
    say("gone", wc.name, d.reason, d.signal or "-")
    if wc.name == "first" then mh.createRenderer({ name = "second", script = "ui.lua" }) end
  end)
end)
]], { { name = "first", script = "ui.lua" } }, { limits = { quitTimeoutMs = 200 } })
    assert_line(r.stdout, "main: gone first killed SIGKILL", all)
    assert_line(r.stdout, "main: second's parent-is-host false", all)
    assert.falsy(r.stderr:find("renderer launcher", 1, true), all)
  end)

  it("execs a renderer whose request is too large for the launcher (a 70 KB environment), and only that one", function()
    local r, all = launch([[
ipcMain.on("parent", function(e, ppid)
  say(e.sender.name, "parent-is-host", tostring(ppid == uv.os_getpid()))
  if e.sender.name == "small" then
    mh.createRenderer({ name = "big", script = "ui.lua", env = { BIG = ("x"):rep(70000) } })
  elseif e.sender.name == "big" then
    mh.createRenderer({ name = "after", script = "ui.lua" })
  else
    mh.app.quit()
  end
end)
]], { { name = "small", script = "ui.lua" } })
    assert_line(r.stdout, "main: small parent-is-host false", all)
    assert_line(r.stdout, "main: big parent-is-host true", all)
    assert_line(r.stdout, "main: after parent-is-host false", all)
    assert.falsy(r.stderr:find("renderer launcher", 1, true), all)
  end)

  it("retires a launcher that does not answer: that launch fails, later ones are exec'd, its renderers run on", function()
    local r, all = launch([[
ipcMain.on("parent", function(e, ppid)
  say(e.sender.name, "parent-is-host", tostring(ppid == uv.os_getpid()))
  if e.sender.name == "first" then
    uv.kill(ppid, "sigstop") -- the launcher: the next request waits 5 s for an answer
    mh.createRenderer({ name = "second", script = "ui.lua" })
    mh.createRenderer({ name = "third", script = "ui.lua" })
    uv.kill(ppid, "sigcont")
  elseif e.sender.name == "third" then
    mh.webContents.fromId(1).send("ping")
  end
end)
ipcMain.on("pong", function() say("first answered") mh.app.quit() end)
mh.app.on("web-contents-created", function(_, wc)
  wc.on("render-process-gone", function(_, d) say("gone", wc.name, d.reason, d.error or "-") end)
end)
]], { { name = "first", script = "first.lua" } }, {
      files = { ["first.lua"] = TELL_PARENT .. 'ipc.on("ping", function() ipc.send("pong") end)\n', ["ui.lua"] = TELL_PARENT },
    })
    assert_line(r.stderr, "mainhost: the renderer launcher did not answer a request; Lua renderers are exec'd from now on",
      all)
    assert_line(r.stdout, "main: first parent-is-host false", all)
    assert_line(r.stdout, "main: gone second launch-failed cannot start '" .. t.bin .. "': connection timed out", all)
    assert_line(r.stdout, "main: third parent-is-host true", all)
    assert_line(r.stdout, "main: first answered", all)
  end)
end)
