-- Regressions from the last review: many arguments through the runner,
-- what main queued before a close, a small maxQueuedBytes with a renderer
-- that reads late, and the API edges fixed with them. Real host, real
-- renderer processes; timeouts only guard against hangs.
local t = require("mainhost.test")
local S = require("support.app")
local app, assert_line = S.app, S.assert_line

describe("closing and many arguments", function()
  after_each(function() t.cleanup() end)

  it("hands a message with 1000 arguments to a listener, a handler, ipcMain.emit and a renderer listener", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        local function many() local t = {} for i = 1, 1000 do t[i] = i end return table.unpack(t) end
        mh.ipcMain.on("many", function(e, ...)
          print("main: listener " .. select("#", ...) .. " last " .. select(1000, ...))
          e.reply("many", many())
        end)
        mh.ipcMain.handle("many", function(e, ...) return select("#", ...), select(1000, ...) end)
        mh.ipcMain.on("local", function(...) print("main: emit " .. select("#", ...)) end)
        mh.ipcMain.emit("local", many())
        mh.ipcMain.on("done", function() mh.app.quit() end)
      ]],
      ["ui.lua"] = [[
        local ipc = require("mainhost.renderer").ipcRenderer
        local function many() local t = {} for i = 1, 1000 do t[i] = i end return table.unpack(t) end
        ipc.on("many", function(e, ...)
          print("ui: listener " .. select("#", ...) .. " last " .. select(1000, ...))
          print("ui: invoke " .. table.concat({ ipc.invoke("many", many()) }, " "))
          ipc.send("done")
        end)
        ipc.send("many", many())
      ]],
    })
    assert.are.equal(0, r.code, r.stderr)
    assert_line(r.stdout, "main: emit 1000", r.stdout .. r.stderr)
    assert_line(r.stdout, "main: listener 1000 last 1000", r.stdout .. r.stderr)
    assert_line(r.stdout, "[ui] ui: listener 1000 last 1000", r.stdout .. r.stderr)
    assert_line(r.stdout, "[ui] ui: invoke 1000 1000", r.stdout .. r.stderr)
  end)

  it("delivers every message main queued before app.quit, then the renderer sees the end", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.ipcMain.on("ready", function(e)
          local chunk = ("x"):rep(100000)
          for i = 1, 100 do e.sender.send("chunk", chunk) end
          mh.app.quit()
        end)
      ]],
      ["ui.lua"] = [[
        local ipc = require("mainhost.renderer").ipcRenderer
        local n = 0
        ipc.on("chunk", function(e, s)
          n = n + 1
          if n == 100 then print("ui: got all 100 chunks of " .. #s) end
        end)
        ipc.send("ready")
      ]],
    })
    assert.are.equal(0, r.code, r.stderr)
    assert_line(r.stdout, "[ui] ui: got all 100 chunks of 100000", r.stdout .. r.stderr)
  end)

  it("keeps answering a renderer that sent a burst of invokes before reading, under a 1 MiB maxQueuedBytes", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } },
        limits = { maxQueuedBytes = 1048576 } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        local answer = ("y"):rep(4096)
        mh.ipcMain.handle("work", function(e, i) return i, answer end)
        mh.ipcMain.on("done", function(e, n) print("main: renderer got " .. n); mh.app.quit() end)
      ]],
      ["ui.lua"] = [[
        local ipc = require("mainhost.renderer").ipcRenderer
        local n, N = 0, 1000
        -- Every invoke is written before any reply is read: a coroutine each.
        for i = 1, N do
          coroutine.wrap(function()
            local j = ipc.invoke("work", i)
            n = n + 1
            if n == N then ipc.send("done", n) end
          end)()
        end
      ]],
    })
    assert.are.equal(0, r.code, r.stderr)
    assert_line(r.stdout, "main: renderer got 1000", r.stdout .. r.stderr)
  end)

  it("names the option in createRenderer's errors for restart and maxRestarts", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua" },
      ["main.lua"] = [[
        local mh = require("mainhost")
        print("main: " .. select(2, pcall(mh.createRenderer, { command = { "true" }, restart = "sometimes" })))
        print("main: " .. select(2, pcall(mh.createRenderer, { command = { "true" }, maxRestarts = "x" })))
      ]],
    })
    local all = r.stdout .. r.stderr
    assert.matches("createRenderer: 'restart' must be \"never\", \"on-failure\" or \"always\" (got \"sometimes\")",
      r.stdout, 1, true)
    assert.matches("createRenderer: 'maxRestarts' must be an integer, got string", r.stdout, 1, true)
    assert.is_nil(all:find("bad argument #-1", 1, true), all)
  end)

  it("makes sendToFrame return false, like send, when a renderer that does not read has too much queued", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", limits = { maxQueuedBytes = 65536 },
        renderers = { { name = "deaf", command = { "sh", "-c", "echo ready; exec sleep 30" } } } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.app.on("web-contents-created", function(_, wc)
          local uv = require("luv")
          local t = uv.new_timer()
          t:start(0, 0, function()
            t:close()
            local chunk = ("z"):rep(8192)
            local first_false
            for i = 1, 200 do
              if not wc.sendToFrame(1, "x", chunk) then first_false = first_false or i end
            end
            print("main: sendToFrame false from " .. tostring(first_false))
            mh.app.exit(0)
          end)
        end)
      ]],
    })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("main: sendToFrame false from %d+", r.stdout)
  end)

  it("makes a late resume of a listener's finished coroutine fail as dead, never waking another listener", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua" },
      ["main.lua"] = [[
        local mh = require("mainhost")
        local uv = require("luv")
        mh.ipcMain.on("a", function()
          local co = coroutine.running()
          local t = uv.new_timer()
          t:start(0, 0, function()
            t:close()
            print("main: late resume " .. tostring(select(2, coroutine.resume(co, "stale"))))
          end)
        end)
        mh.ipcMain.on("b", function()
          local co = coroutine.running()
          local t = uv.new_timer()
          t:start(50, 0, function() t:close(); coroutine.resume(co, "own") end)
          print("main: b woke with " .. tostring(coroutine.yield()))
          mh.app.quit()
        end)
        mh.ipcMain.emit("a")
        mh.ipcMain.emit("b")
      ]],
    })
    assert.are.equal(0, r.code, r.stderr)
    assert_line(r.stdout, "main: late resume cannot resume dead coroutine", r.stdout .. r.stderr)
    assert_line(r.stdout, "main: b woke with own", r.stdout .. r.stderr)
  end)

  it("exits after closing a renderer whose child still holds its socket and output", function()
    local child
    local ok, err = pcall(function()
      local r = app({
        ["mainhost.json"] = { main = "main.lua", limits = { quitTimeoutMs = 500 },
          renderers = { { name = "py", command = { "python3", "r.py" } } } },
        ["main.lua"] = [[
          local mh = require("mainhost")
          mh.ipcMain.on("ready", function(e, pid)
            print("main: child " .. pid)
            local big = string.rep("x", 1024 * 1024)
            for i = 1, 8 do e.sender.send("big", big) end
            e.sender.close()
          end)
        ]],
        ["r.py"] = [[
import os, socket, subprocess, time, json
s = socket.socket(fileno=int(os.environ["MAINHOST_IPC_FD"]))
p = subprocess.Popen(["sleep", "60"], pass_fds=(3,))
s.sendall(b'{"k":"send","ch":"ready","args":[%d]}\n' % p.pid)
time.sleep(0.3)
os._exit(0)
]],
      }, { timeout = 20000 })
      child = tonumber(r.stdout:match("main: child (%d+)"))
      assert.are.equal(0, r.code, r.stdout .. r.stderr)
    end)
    if child then require("luv").kill(child, "sigkill") end
    assert(ok, err)
  end)

  -- The end of a Python renderer (S.PY): reads nothing, and says "NAME:
  -- host hung up" once the host has closed its end (a hang-up, as its own
  -- sending side is shut down or unused).
  local function py_until_hang_up(name)
    return ([[
import select
p = select.poll()
p.register(sock, 0)
while not any(ev & select.POLLHUP for _, ev in p.poll(50)):
    pass
say("%s: host hung up")
]]):format(name)
  end

  -- The end of a Python renderer (S.PY): says every line from the host
  -- but the hello, then "end of stream".
  local PY_SAY_UNTIL_END = [[
while True:
    line = read_line()
    if line is None:
        say("end of stream")
        break
    if b'"hello"' not in line:
        say(line.decode())
]]

  -- For main: wait_for_file(name) sleeps until the renderer has made NAME
  -- in the app's directory, then one more loop turn. For the renderer:
  -- make_file(name).
  local WAIT_FOR_FILE = [[
local function wait_for_file(name)
  local path = (debug.getinfo(1, "S").source:match("^@(.*)/") or ".") .. "/" .. name
  while not io.open(path) do mh.sleep(5) end
  mh.sleep(5)
end
]]
  local PY_MAKE_FILE = [[
def make_file(name):
    open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name), "w").close()
]]

  -- An app whose renderer "evil" sends 3000 invokes, each answered with
  -- 64 KiB, and reads none of the answers (py_rest: what it does after
  -- sending them; it says "evil: host hung up" once the host has let it
  -- go). Checks that the host cut it off and stayed small.
  local function assert_cut_off_after_unread_replies(py_rest)
    local r = S.py_app("evil", [[
      local mh = require("mainhost")
      local big = ("z"):rep(65536)
      mh.ipcMain.handle("slow", function() mh.sleep(20); return big end)
      mh.app.on("web-contents-created", function(_, wc)
        wc.on("render-process-gone", function()
          local f = io.open("/proc/self/status"); local s = f:read("a"); f:close()
          print("main: rss_kb " .. s:match("VmRSS:%s*(%d+) kB"))
        end)
      end)
    ]], [[
for i in range(1, 3001):
    send(b'{"k":"invoke","ch":"slow","id":%d,"args":[]}\n' % i)
]] .. py_rest, { limits = { maxQueuedBytes = 1048576, maxPendingInvokes = 100000 } }, 30000)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("renderer 'evil' (id 1) left over twice limits.maxQueuedBytes (1048576) unread; disconnected",
      r.stderr, 1, true)
    assert_line(r.stdout, "[evil] evil: host hung up", r.stdout .. r.stderr)
    -- 3000 replies of 64 KiB would be about 190 MB without the cut.
    local rss = tonumber(r.stdout:match("main: rss_kb (%d+)"))
    assert(rss and rss < 64 * 1024, "host RSS " .. tostring(rss) .. " kB\n" .. r.stdout .. r.stderr)
  end

  it("disconnects a renderer that leaves twice maxQueuedBytes of replies unread, keeping the host small", function()
    assert_cut_off_after_unread_replies([[
import time
try:
    while True:
        time.sleep(0.05)
        sock.send(b'')
except OSError:
    pass
say("evil: host hung up")
]])
  end)

  it("closes its end to a renderer that shut down its sending side once nothing is left to answer", function()
    local r = S.py_app("py", [[
      local mh = require("mainhost")
      mh.ipcMain.on("hi", function(e) e.sender.send("back", "to you") end)
    ]], [[
send(b'{"k":"send","ch":"hi","args":[]}\n')
sock.shutdown(socket.SHUT_WR)
]] .. PY_SAY_UNTIL_END)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ '{"k":"msg","ch":"back","args":["to you"]}', "end of stream" }, S.said(r, "py"),
      r.stdout .. r.stderr)
  end)

  it("hangs up on a renderer that shut down its sending side and reads nothing, after quitTimeoutMs", function()
    local r = S.py_app("py", [[
      local mh = require("mainhost")
      local chunk = ("y"):rep(65536)
      mh.ipcMain.on("hi", function(e) for _ = 1, 64 do e.sender.send("data", chunk) end end)
    ]], [[
send(b'{"k":"send","ch":"hi","args":[]}\n')
sock.shutdown(socket.SHUT_WR)
]] .. py_until_hang_up("py"), { limits = { quitTimeoutMs = 200 } })
    assert.are.equal(0, r.code, r.stderr)
    assert_line(r.stdout, "[py] py: host hung up", r.stdout .. r.stderr)
    -- Hung up, not signalled: it left on its own.
    assert.is_nil(r.stderr:find("SIGTERM", 1, true), r.stderr)
  end)

  it("takes a renderer that closed its socket while still running for gone from the channel at once", function()
    -- Closed, not shut down for writing: nothing it could read, so the
    -- host's end goes at once and wc.send says false.
    local r = S.py_app("py", [[
      local mh = require("mainhost")
    ]] .. WAIT_FOR_FILE .. [[
      mh.ipcMain.handle("later", function(e)
        wait_for_file("closed")
        print("main: send says " .. tostring(e.sender.send("note")))
        mh.app.quit()
        return "late"
      end)
    ]], PY_MAKE_FILE .. [[
import time
read_line()  # the hello: a socket closed with unread bytes says reset, not end of stream
send(b'{"k":"invoke","ch":"later","id":1,"args":[]}\n')
sock.close()
make_file("closed")
time.sleep(30)
]], { limits = { quitTimeoutMs = 100 } })
    assert.are.equal(0, r.code, r.stderr)
    assert_line(r.stdout, "main: send says false", r.stdout .. r.stderr)
  end)

  it("disconnects a renderer that shut down its sending side and leaves twice maxQueuedBytes unread", function()
    assert_cut_off_after_unread_replies([[
sock.shutdown(socket.SHUT_WR)
]] .. py_until_hang_up("evil"))
  end)

  -- MAIN_MANY: handles "many" (answering its count of arguments) and
  -- quits on "done"; PY_MANY_ARGS: the args of an invoke of 1,100,000 ones.
  local MAIN_MANY = [[
      mh.ipcMain.handle("many", function(e, ...) return select("#", ...) end)
      mh.ipcMain.on("done", function() mh.app.quit() end)
  ]]

  it("answers an invoke the host refuses while decoding (1,100,000 arguments) with an error instead of silence", function()
    local r = S.py_app("py", [[
      local mh = require("mainhost")
    ]] .. MAIN_MANY, [[
send(b'{"k":"invoke","ch":"many","id":7,"args":[' + b','.join([b'1'] * 1100000) + b']}\n')
print_results_until(b'"result"')
send(b'{"k":"send","ch":"done","args":[]}\n')
]], nil, 60000)
    assert.are.equal(0, r.code, r.stderr)
    assert_line(r.stdout, '[py] {"k":"result","id":7,"error":"Error: the message was refused: too many values"}',
      r.stdout .. r.stderr)
  end)

  it("never gives a refused line a second answer for an id that is still pending", function()
    -- id 7 is pending (its handler sleeps) when a line reusing it is
    -- refused: the handler's answer is the only one id 7 gets.
    local r = S.py_app("py", [[
      local mh = require("mainhost")
      mh.ipcMain.handle("slow", function()
        mh.sleep(100)
        return "slow done"
      end)
    ]] .. MAIN_MANY, [[
send(b'{"k":"invoke","ch":"slow","id":7,"args":[]}\n')
send(b'{"k":"invoke","ch":"many","id":7,"args":[' + b','.join([b'1'] * 1100000) + b']}\n')
print_results_until(b"slow done")
send(b'{"k":"send","ch":"done","args":[]}\n')
]], nil, 60000)
    assert.are.equal(0, r.code, r.stderr)
    local results = S.said(r, "py")
    assert.are.equal(1, #results, r.stdout .. r.stderr)
    assert.matches('"id":7', results[1], 1, true)
    assert.matches("slow done", results[1], 1, true)
  end)

  -- A renderer that shut down its sending side (shutdown(SHUT_WR), the
  -- usual "I have sent everything" of socket code) was treated as gone
  -- from the channel: the host closed the socket, and the results of its
  -- requests still running were dropped. It still runs and may still
  -- read: the host now answers them (and writes what main sends it
  -- meanwhile), then closes its end, as a server does. The handler
  -- waits for the renderer's file, made after its shutdown, then for one
  -- more loop turn (a poll phase, which reads the end of the stream), so
  -- the end has been seen before the answer goes, on any machine.
  it("still answers, and sends to, a renderer that shut down its sending side", function()
    local r = S.py_app("py", [[
      local mh = require("mainhost")
    ]] .. WAIT_FOR_FILE .. [[
      mh.ipcMain.handle("later", function(e)
        wait_for_file("shut")
        e.sender.send("note", "sent after the end")
        return "answered after the end"
      end)
      mh.app.on("web-contents-created", function(_, wc)
        wc.on("render-process-gone", function(_, d)
          print("main: gone " .. d.reason)
          mh.app.quit()
        end)
      end)
    ]], PY_MAKE_FILE .. [[
send(b'{"k":"invoke","ch":"later","id":1,"args":[]}\n')
sock.shutdown(socket.SHUT_WR)
make_file("shut")
]] .. PY_SAY_UNTIL_END)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({
      '{"k":"msg","ch":"note","args":["sent after the end"]}',
      '{"k":"result","id":1,"args":["answered after the end"]}',
      "end of stream",
    }, S.said(r, "py"), r.stdout .. r.stderr)
    assert_line(r.stdout, "main: gone clean-exit", r.stdout .. r.stderr)
  end)
end)
