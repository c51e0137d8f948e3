-- The mainhost command line end to end: help, version and usage errors,
-- config errors (exit 2, nothing started), main script failures (exit 1),
-- the forms of APP, what a "command" renderer is given, how renderer output
-- is passed through, prompt main output, app.quit's code, and a renderer
-- that cannot start.
local t = require("mainhost.test")
local S = require("support.app")
local assert_line, assert_no_line, app = S.assert_line, S.assert_no_line, S.app
local uv = require("luv")

local function real(path) return assert(uv.fs_realpath(path)) end

local function run(args, opts)
  opts = opts or {}
  local cmd = { t.bin }
  for _, a in ipairs(args) do cmd[#cmd + 1] = a end
  local r = t.exec({ cmd = cmd, env = opts.env, cwd = opts.cwd })
  assert.is_false(r.timed_out, "mainhost hung:\n" .. r.stdout .. r.stderr)
  return r
end

-- A frame for the protocol's "send" message, written by sh to fd 3.
local function sh_send(ch)
  return ([[printf '%%s\n' '{"k":"send","ch":"%s","args":[]}' >&3]]):format(ch)
end

-- Reads the host's hello first: a renderer that exits with it unread
-- resets the socket, which is the subject of its own specs below, not of
-- the specs that use this.
local SH_READ_HELLO = "read -r hello <&3; "

describe("mainhost", function()
  after_each(t.cleanup)

  describe("options", function()
    it("prints the usage on stdout and exits 0 for --help and -h", function()
      for _, opt in ipairs({ "--help", "-h" }) do
        local r = run({ opt })
        assert.are.equal(0, r.code, r.stderr)
        assert.matches("^usage: mainhost %[%-%-trace%[=FILE%]%] APP", r.stdout)
        assert.matches("mainhost --renderer SCRIPT.lua", r.stdout, 1, true)
        assert.matches("mainhost test", r.stdout, 1, true)
        assert.are.equal("", r.stderr)
      end
    end)

    it("prints its version and protocol version on stdout and exits 0 for --version", function()
      local r = run({ "--version" })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("^mainhost %d+%.%d+[%w.%-+]* %(protocol %d+%)\n$", r.stdout)
      assert.are.equal("", r.stderr)
    end)

    it("prints the usage on stderr and exits 2 when given no arguments", function()
      local r = run({})
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("usage: mainhost [--trace[=FILE]] APP", r.stderr, 1, true)
    end)

    it("names an unknown option, prints the usage on stderr and exits 2", function()
      local r = run({ "--bogus" })
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("unknown option '--bogus'", r.stderr, 1, true)
      assert.matches("usage: mainhost [--trace[=FILE]] APP", r.stderr, 1, true)
    end)

    it("says options go before APP when one comes after it, and runs nothing", function()
      local dir = t.write(t.tempdir(), { ["a.lua"] = 'print("a ran")' })
      local r = run({ dir .. "/a.lua", "--trace" })
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("mainhost: options go before APP ('--trace' comes after it)", r.stderr, 1, true)
      assert.matches("usage: mainhost [--trace[=FILE]] APP", r.stderr, 1, true)
    end)

    it("refuses a second APP with exit 2 and runs neither", function()
      local dir = t.write(t.tempdir(), { ["a.lua"] = 'print("a ran")', ["b.lua"] = 'print("b ran")' })
      local r = run({ dir .. "/a.lua", dir .. "/b.lua" })
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("b.lua", r.stderr, 1, true)
    end)
  end)

  describe("config errors", function()
    -- Every broken config below also lists a main script and a renderer
    -- that would print if started: exit 2 means nothing ran.
    local MAIN = 'print("main ran")\n'
    local GOOD = { name = "good", command = { "sh", "-c", "echo renderer ran" } }

    local function config_error(conf, extra)
      local files = { ["main.lua"] = MAIN, ["mainhost.json"] = conf }
      for k, v in pairs(extra or {}) do files[k] = v end
      local r = app(files)
      assert.are.equal(2, r.code, r.stdout .. r.stderr)
      assert.are.equal("", r.stdout, "something ran despite the config error")
      local first = t.lines(r.stderr)[1] or ""
      assert.matches("^mainhost: config error: ", first)
      assert.are.equal(1, #t.lines(r.stderr), "the error is one line:\n" .. r.stderr)
      return first, r
    end

    it("names the file and key path of a misspelled key and suggests the nearest valid key", function()
      local msg, r = config_error({ main = "main.lua", renderers = { GOOD, { name = "ui", scirpt = "ui.lua" } } })
      assert.matches(r.dir .. "/mainhost.json: renderers[1].scirpt: ", msg, 1, true)
      assert.matches('did you mean "script"?', msg, 1, true)
    end)

    it("suggests the nearest top-level key for a misspelled top-level key", function()
      local msg, r = config_error({ main = "main.lua", renderer = { GOOD } })
      assert.matches(r.dir .. "/mainhost.json: renderer: ", msg, 1, true)
      assert.matches('did you mean "renderers"?', msg, 1, true)
    end)

    it("names the key path and the expected and actual types of a value of the wrong type", function()
      local msg, r = config_error({ main = "main.lua", renderers = { GOOD, { name = "ui", script = "ui.lua", args = "x" } } },
        { ["ui.lua"] = "" })
      assert.matches(r.dir .. "/mainhost.json: renderers[1].args: ", msg, 1, true)
      assert.matches("expected an array of strings, got string", msg, 1, true)
    end)

    it("names the main key when it is not a string", function()
      local msg, r = config_error({ main = 5, renderers = { GOOD } })
      assert.matches(r.dir .. "/mainhost.json: main: expected a string, got number", msg, 1, true)
    end)

    it("names a limit of the wrong type by its dotted key path", function()
      local msg, r = config_error({ main = "main.lua", renderers = { GOOD }, limits = { maxDepth = "deep" } })
      assert.matches(r.dir .. "/mainhost.json: limits.maxDepth: expected an integer", msg, 1, true)
      assert.matches("got string", msg, 1, true)
    end)

    it("gives file, line and column for a config that is not JSON", function()
      local msg, r = config_error('{\n  "main": "main.lua",\n  "renderers": [,]\n}\n')
      local where = r.dir .. "/mainhost.json:3:"
      assert.matches(where, msg, 1, true)
      assert.matches("^%d+: invalid JSON", msg:sub(msg:find(where, 1, true) + #where))
    end)

    it("names a renderer script that does not exist", function()
      local msg, r = config_error({ main = "main.lua", renderers = { GOOD, { name = "ui", script = "nope.lua" } } })
      assert.matches("renderers[1].script: file not found: " .. real(r.dir) .. "/nope.lua", msg, 1, true)
    end)

    it("names a main script that does not exist", function()
      local msg, r = config_error({ main = "nope.lua", renderers = { GOOD } })
      assert.matches(r.dir .. "/mainhost.json: main: file not found: " .. real(r.dir) .. "/nope.lua", msg, 1, true)
    end)

    it("exits 2 naming an APP path that does not exist", function()
      local dir = t.tempdir()
      local r = run({ dir .. "/missing" })
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("config error: " .. dir .. "/missing: no such file or directory", r.stderr, 1, true)
    end)

    it("exits 2 for a directory without mainhost.json", function()
      local dir = t.write(t.tempdir(), { ["main.lua"] = MAIN })
      local r = run({ dir })
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("no mainhost.json", r.stderr, 1, true)
    end)
  end)

  describe("main script failures", function()
    -- The renderer records its pid and prints if it is ever started.
    local function would_run()
      return { name = "r", command = { "sh", "-c", 'echo $$ > started.pid; echo renderer ran; exec sleep 600' } }
    end

    local function assert_never_started(r)
      assert_no_line(r.stdout, "[r] renderer ran", r.stdout .. r.stderr)
      local f = io.open(r.dir .. "/started.pid")
      if f then
        local pid = tonumber(f:read("l"))
        f:close()
        if pid and t.alive(pid) then uv.kill(pid, "sigkill") end
        assert(false, "a renderer was started (pid " .. tostring(pid) .. ")")
      end
    end

    it("exits 1 when the main script raises while loading, and starts no renderer", function()
      local r = app({
        ["main.lua"] = [[
local mh = require("mainhost")
local uv = require("luv")
-- A probe: should the loop run after the failure, it tells how many
-- renderers were started.
local probe = uv.new_check()
probe:start(function()
  probe:close()
  print("probe: renderers " .. #mh.webContents.getAllWebContents())
end)
print("main starts")
error("oops at load")
]],
        ["mainhost.json"] = { main = "main.lua", renderers = { would_run() } },
      })
      assert.are.equal(1, r.code, r.stdout .. r.stderr)
      assert_line(r.stdout, "main starts", r.stdout .. r.stderr)
      assert.matches("main%.lua:11: oops at load", r.stderr)
      assert.not_matches("probe: renderers [1-9]", r.stdout)
      assert_never_started(r)
    end)

    it("exits 1 naming the file and line when the main script does not compile, and starts no renderer", function()
      local r = app({
        ["main.lua"] = 'print("fine")\nlocal x = = 1\n',
        ["mainhost.json"] = { main = "main.lua", renderers = { would_run() } },
      })
      assert.are.equal(1, r.code, r.stdout .. r.stderr)
      assert.matches(real(r.dir) .. "/main.lua:2:", r.stderr, 1, true)
      assert_no_line(r.stdout, "fine", r.stdout .. r.stderr)
      assert_never_started(r)
    end)
  end)

  describe("APP", function()
    it("runs a lone main.lua with no config", function()
      local dir = t.write(t.tempdir(), { ["main.lua"] = [[
        local mh = require("mainhost")
        print("lone main ran, renderers: " .. #mh.webContents.getAllWebContents())
      ]] })
      local r = run({ dir .. "/main.lua" })
      assert.are.equal(0, r.code, r.stderr)
      assert_line(r.stdout, "lone main ran, renderers: 0", r.stdout .. r.stderr)
    end)

    local files = {
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.ipcMain.on("hi", function(e) print("main: hi from " .. e.sender.name) mh.app.quit() end)
      ]],
      ["ui.lua"] = 'require("mainhost.renderer").ipcRenderer.send("hi")\n',
    }

    it("runs an app directory holding mainhost.json", function()
      local dir = t.write(t.tempdir(), files)
      t.write(dir, { ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } } })
      local r = run({ dir })
      assert.are.equal(0, r.code, r.stderr)
      assert_line(r.stdout, "main: hi from ui", r.stdout .. r.stderr)
    end)

    it("runs an explicit *.json config with paths relative to the config, from another directory", function()
      local dir = t.write(t.tempdir(), files)
      t.write(dir, { ["sub/app.json"] = { main = "../main.lua", renderers = { { name = "ui", script = "../ui.lua" } } } })
      local r = run({ "sub/app.json" }, { cwd = dir })
      assert.are.equal(0, r.code, r.stderr)
      assert_line(r.stdout, "main: hi from ui", r.stdout .. r.stderr)
      local elsewhere = run({ dir .. "/sub/app.json" }, { cwd = "/" })
      assert.are.equal(0, elsewhere.code, elsewhere.stderr)
      assert_line(elsewhere.stdout, "main: hi from ui", elsewhere.stdout .. elsewhere.stderr)
    end)
  end)

  describe("renderer processes", function()
    local QUIT_ON_DONE = [[
      local mh = require("mainhost")
      mh.ipcMain.on("done", function() print("main: got done") mh.app.quit() end)
    ]]

    it("gives a command renderer the config's cwd, env and args, and the channel's variables", function()
      local r = app({
        ["main.lua"] = QUIT_ON_DONE,
        ["sub/.keep"] = "",
        ["mainhost.json"] = { main = "main.lua", renderers = { {
          name = "cmd",
          command = { "sh", "-c", SH_READ_HELLO .. 'echo "cwd=$(pwd) v=$FOO keep=$KEEP n=$# args=$*"; '
            .. 'echo "fd=$MAINHOST_IPC_FD name=$MAINHOST_RENDERER_NAME"; ' .. sh_send("done"), "sh" },
          args = { "a", "b c" },
          cwd = "sub",
          env = { FOO = "bar baz" },
        } } },
      }, { env = { "FOO=outer", "KEEP=kept" } })
      assert.are.equal(0, r.code, r.stdout .. r.stderr)
      local sub = assert(uv.fs_realpath(r.dir .. "/sub"))
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[cmd] cwd=" .. sub .. " v=bar baz keep=kept n=2 args=a b c", all)
      assert_line(r.stdout, "[cmd] fd=3 name=cmd", all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("prefixes renderer stdout lines on stdout and stderr lines on stderr with [name], last partial lines included",
      function()
        local r = app({
          ["main.lua"] = QUIT_ON_DONE,
          ["mainhost.json"] = { main = "main.lua", renderers = { {
            name = "r",
            command = { "sh", "-c", SH_READ_HELLO .. [[printf 'out1\nout2\nout-last'; printf 'err1\nerr-last' >&2; ]]
              .. sh_send("done") },
          } } },
        })
        assert.are.equal(0, r.code, r.stdout .. r.stderr)
        local all = r.stdout .. r.stderr
        for _, l in ipairs({ "[r] out1", "[r] out2", "[r] out-last" }) do
          assert_line(r.stdout, l, all)
          assert_no_line(r.stderr, l, all)
        end
        for _, l in ipairs({ "[r] err1", "[r] err-last" }) do
          assert_line(r.stderr, l, all)
          assert_no_line(r.stdout, l, all)
        end
      end)

    -- Holds main's loop until renderer 1 has exited (a zombie: the host
    -- cannot reap it while busy), so what the renderer left in the socket
    -- and its exit are both waiting when the loop goes on.
    local WAIT_FOR_EXIT = [[
      local function gone(pid)
        local f = io.open("/proc/" .. pid .. "/stat")
        if not f then return true end
        local s = f:read("a")
        f:close()
        return s:match("^%d+ %b() (%a)") == "Z"
      end
      local function wait_for_exit(pid)
        local deadline = os.time() + 10
        while not gone(pid) and os.time() < deadline do end
        return gone(pid)
      end
    ]]

    it("does not report a renderer that exits without reading its channel as a channel error", function()
      local r = app({
        ["main.lua"] = WAIT_FOR_EXIT .. [[
          local mh = require("mainhost")
          local uv = require("luv")
          -- A check handle runs after the loop's first poll, when the hello
          -- has been written to the renderer.
          local check = uv.new_check()
          check:start(function()
            check:close()
            -- (A host that already saw the exit has dropped its webContents.)
            local wc = mh.webContents.getAllWebContents()[1]
            print("main: renderer exited: " .. tostring(wc == nil or wait_for_exit(wc.pid)))
          end)
        ]],
        ["mainhost.json"] = { main = "main.lua", renderers = { { name = "r", command = { "sh", "-c", "echo bye" } } } },
      })
      local all = r.stdout .. r.stderr
      assert.are.equal(0, r.code, all)
      assert_line(r.stdout, "main: renderer exited: true", all)
      assert_line(r.stdout, "[r] bye", all)
      assert.are.equal("", r.stderr)
    end)

    it("delivers the last message a renderer sent before it exited, even when the host was busy then", function()
      local r = app({
        ["main.lua"] = WAIT_FOR_EXIT .. [[
          local mh = require("mainhost")
          local dir = debug.getinfo(1, "S").source:match("^@(.*)/")
          mh.ipcMain.on("block", function(e)
            assert(io.open(dir .. "/blocked", "w")):close()
            print("main: renderer exited while main was busy: " .. tostring(wait_for_exit(e.processId)))
          end)
          mh.ipcMain.on("done", function() print("main: got done") mh.app.quit() end)
        ]],
        ["mainhost.json"] = { main = "main.lua", renderers = { {
          name = "r",
          command = { "sh", "-c", sh_send("block") .. "; while [ ! -e blocked ]; do :; done; " .. sh_send("done") },
        } } },
      })
      local all = r.stdout .. r.stderr
      assert.are.equal(0, r.code, all)
      assert_line(r.stdout, "main: renderer exited while main was busy: true", all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("takes a command renderer down with it when the host is killed with SIGKILL", function()
      local r = app({
        ["main.lua"] = [[
          local mh = require("mainhost")
          local uv = require("luv")
          mh.ipcMain.on("ready", function(e)
            print("renderer pid " .. e.processId)
            uv.kill(uv.os_getpid(), "sigkill")
          end)
        ]],
        ["mainhost.json"] = { main = "main.lua", renderers = { {
          name = "r",
          command = { "sh", "-c", SH_READ_HELLO .. sh_send("ready") .. "; exec sleep 600" },
        } } },
      })
      local all = r.stdout .. r.stderr
      assert.are.equal(9, r.signal, "the host was not killed:\n" .. all)
      local rpid = tonumber(r.stdout:match("renderer pid (%d+)"))
      assert(rpid, "main did not report the renderer's pid:\n" .. all)
      local ok, err = pcall(t.wait_for, function() return not t.alive(rpid) end, 10000,
        "renderer " .. rpid .. " to go after its host was killed")
      if t.alive(rpid) then uv.kill(rpid, "sigkill") end
      assert(ok, err)
    end)

    it("reports a renderer whose command does not exist and goes on with the others", function()
      local r = app({
        ["main.lua"] = QUIT_ON_DONE,
        ["ui.lua"] = 'require("mainhost.renderer").ipcRenderer.send("done")\n',
        ["mainhost.json"] = { main = "main.lua", renderers = {
          { name = "ghost", command = { "no-such-program-mainhost-spec" } },
          { name = "ui", script = "ui.lua" },
        } },
      })
      assert.are.equal(0, r.code, r.stdout .. r.stderr)
      local report
      for _, l in ipairs(t.lines(r.stderr)) do
        if l:find("renderer 'ghost'", 1, true) and l:find("could not start", 1, true) then report = l end
      end
      assert(report, "no \"renderer 'ghost' ... could not start\" line on stderr:\n" .. r.stderr)
      assert.matches("no-such-program-mainhost-spec", report, 1, true)
      assert_line(r.stdout, "main: got done", r.stdout .. r.stderr)
    end)
  end)

  describe("the main script", function()
    local MAIN = [[
      local mh = require("mainhost")
      local uv = require("luv")
      print("a")
      print("b", 2)
      mh.ipcMain.on("kill", function()
        local timer = uv.new_timer()
        timer:start(0, 0, function() uv.kill(uv.os_getpid(), "sigkill") end)
      end)
    ]]
    local UI = 'require("luv").new_timer():start(3600000, 0, function() end)\n'
      .. 'require("mainhost.renderer").ipcRenderer.send("kill")\n'
    local CONF = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } }

    it("prints line by line to a pipe, so its output survives the host being killed", function()
      local r = app({ ["main.lua"] = MAIN, ["ui.lua"] = UI, ["mainhost.json"] = CONF })
      local all = r.stdout .. r.stderr
      assert.are.equal(9, r.signal, "the host was not killed:\n" .. all)
      assert_line(r.stdout, "a", all)
      assert_line(r.stdout, "b\t2", all)
    end)

    it("prints line by line to a file, so its output survives the host being killed", function()
      local dir = t.write(t.tempdir(), { ["main.lua"] = MAIN, ["ui.lua"] = UI, ["mainhost.json"] = CONF })
      local out = dir .. "/out.txt"
      local r = t.exec({ cmd = { "sh", "-c", 'exec "$0" "$1" > "$2"', t.bin, dir, out } })
      assert.is_false(r.timed_out, "the app hung:\n" .. r.stderr)
      assert.are.equal(9, r.signal, "the host was not killed:\n" .. r.stderr)
      local f = assert(io.open(out))
      local text = f:read("a")
      f:close()
      assert_line(text, "a", text .. r.stderr)
      assert_line(text, "b\t2", text .. r.stderr)
    end)

    it("makes mainhost exit with the code given to mh.app.quit", function()
      local r = app({
        ["main.lua"] = [[
          local mh = require("mainhost")
          mh.ipcMain.on("done", function() mh.app.quit(3) end)
        ]],
        ["ui.lua"] = 'require("mainhost.renderer").ipcRenderer.send("done")\n',
        ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
      })
      assert.are.equal(3, r.code, r.stdout .. r.stderr)
    end)
  end)
end)
