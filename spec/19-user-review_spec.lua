-- Findings of a review by a new user (and a hostile-renderer test) of the
-- whole product, fixed since. Real host, real renderer processes; the
-- timeouts only guard against hangs (several of these bugs were hangs).
local t = require("mainhost.test")
local S = require("support.app")
local app, assert_line, said = S.app, S.assert_line, S.said

describe("review by a new user", function()
  after_each(function() t.cleanup() end)

  -- The runner reuses the coroutine of a handler that finished at once; the
  -- pool table kept anchoring one that was taken again and then waited, so
  -- a handler waiting on a callback nobody could call any more was never
  -- collected and its invoke never answered (the renderer hung). Both
  -- requests below run in a reused coroutine: the main chunk's, then the
  -- "warm" handler's.
  it("answers a handler or listener that waits for ever in a reused coroutine with 'reply was never sent'",
    function()
    local r = S.run([[
      mh.ipcMain.handle("warm", function() return "warm" end)
      mh.ipcMain.handle("lost", function() return mh.await(function(cb) end) end) -- cb is never called
      mh.ipcMain.on("lost-sync", function() coroutine.yield() end)                -- nor is this resumed
      quit_on("done")
    ]], [[
      print(ipc.invoke("warm"))
      print(pcall(ipc.invoke, "lost"))
      print(ipc.invoke("warm"))
      print(pcall(ipc.sendSync, "lost-sync"))
      ipc.send("done")
    ]])
    assert.are.same({
      "warm",
      "false\tError invoking remote method 'lost': reply was never sent",
      "warm",
      "false\tError in sendSync for 'lost-sync': reply was never sent",
    }, said(r, "ui"), r.stdout .. r.stderr)
  end)

  -- A sync or invoke refused after it was read (no channel, a frame below
  -- 1, a channel outside the allowlist, too many requests) gets its
  -- refusal as its result whenever its id is known and not already
  -- pending; before, the first two got nothing and their callers waited for
  -- ever, and the last two could answer an id that was still pending.
  it("answers every refused sync or invoke whose id is known, and never a pending id twice", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", limits = { maxPendingInvokes = 1 },
        renderers = { { name = "py", command = { "python3", "r.py" }, channels = { "slow", "ok", "done" } } } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.ipcMain.handle("slow", function()
          mh.sleep(200)
          return "slow done"
        end)
        mh.ipcMain.on("ok", function(e) e.returnValue = "ok" end)
        mh.ipcMain.on("done", function() mh.app.quit() end)
      ]],
      ["r.py"] = S.PY .. [[
send(b'{"k":"sync","id":10,"frame":0,"ch":"ok"}\n'
     b'{"k":"invoke","id":11,"frame":-3,"ch":"ok","args":[]}\n'
     b'{"k":"invoke","id":12,"args":[]}\n'
     b'{"k":"sync","id":13,"ch":"secret","args":[]}\n'
     b'{"k":"invoke","id":14,"ch":"slow","args":[]}\n'
     b'{"k":"invoke","id":14,"ch":"secret","args":[]}\n'
     b'{"k":"invoke","id":14,"ch":"slow","args":[]}\n'
     b'{"k":"invoke","id":15,"ch":"slow","args":[]}\n'
     b'{"k":"sync","id":16,"ch":"ok","args":[]}\n')
print_results_until(b"slow done", b'"id":16')
send(b'{"k":"send","ch":"done","args":[]}\n')
]],
    }, { timeout = 30000 })
    assert.are.equal(0, r.code, r.stderr)
    local results = said(r, "py")
    table.sort(results)
    assert.are.same({
      '{"k":"result","id":10,"error":"Error: field \\"frame\\" must be 1 or more"}',
      '{"k":"result","id":11,"error":"Error: field \\"frame\\" must be 1 or more"}',
      '{"k":"result","id":12,"error":"Error: message has no \\"ch\\" (channel) field"}',
      [[{"k":"result","id":13,"error":"Error: channel 'secret' is not allowed for renderer 'py'"}]],
      '{"k":"result","id":14,"args":["slow done"]}',
      '{"k":"result","id":15,"error":"Error: too many invoke requests awaiting a reply (limit 1)"}',
      '{"k":"result","id":16,"args":["ok"]}',
    }, results, r.stdout .. r.stderr)
  end)

  -- The position Lua puts before an error message was looked for anywhere
  -- in the first line: a message without one lost everything up to its own
  -- ":<digits>: " ("save to 10.0.0.5:8080: failed" became "failed").
  it("removes only the position Lua put first from an error's text, and sends a message without one whole",
    function()
    local r = S.run([[
      mh.ipcMain.handle("a", function() error("boom") end)
      mh.ipcMain.handle("b", function() error("save to 10.0.0.5:8080: failed", 0) end)
      mh.ipcMain.handle("c", function()
        local _, err = pcall(error, "disk full", 0)
        error("save failed: main.lua:7: " .. err, 0)
      end)
      mh.ipcMain.handle("d", function() error("/home/me/My App/main.lua:3: boom", 0) end)
      mh.ipcMain.handle("e", function() load("error('in a string chunk')")() end)
      mh.ipcMain.handle("f", function() error("localhost:5432: refused", 0) end)
      mh.ipcMain.handle("g", function() error("[db] 10.0.0.5:5432: refused", 0) end)
      quit_on("done")
    ]], [[
      for _, ch in ipairs({ "a", "b", "c", "d", "e", "f", "g" }) do print(select(2, pcall(ipc.invoke, ch))) end
      ipc.send("done")
    ]])
    assert.are.same({
      "Error invoking remote method 'a': Error: boom",
      "Error invoking remote method 'b': Error: save to 10.0.0.5:8080: failed",
      "Error invoking remote method 'c': Error: save failed: main.lua:7: disk full",
      "Error invoking remote method 'd': Error: boom",
      "Error invoking remote method 'e': Error: in a string chunk",
      "Error invoking remote method 'f': Error: localhost:5432: refused",
      "Error invoking remote method 'g': Error: [db] 10.0.0.5:5432: refused",
    }, said(r, "ui"), r.stdout .. r.stderr)
  end)

  -- The runner's message handler read a number error with lua_tostring,
  -- which turned it into a string in place: error(42) reached the renderer
  -- as "Error: 42" instead of Electron's "42". And the host's log said
  -- "(error object is a table value)" for error({message = ...}), whose
  -- text the renderer got.
  it("passes error(42) on as 42, and logs an error object's message, safely", function()
    local r = S.run([[
      mh.ipcMain.handle("n", function() error(42) end)
      mh.ipcMain.handle("m", function() error({ message = "custom msg" }) end)
      mh.ipcMain.handle("i", function() error(setmetatable({}, { __index = { message = "via index" } })) end)
      mh.ipcMain.handle("r", function()
        error(setmetatable({}, { __tostring = function() error("tostring boom") end }))
      end)
      quit_on("done")
    ]], [[
      for _, ch in ipairs({ "n", "m", "i", "r" }) do print(pcall(ipc.invoke, ch)) end
      ipc.send("done")
    ]])
    assert.are.same({
      "false\tError invoking remote method 'n': 42",
      "false\tError invoking remote method 'm': Error: custom msg",
      "false\tError invoking remote method 'i': Error: via index",
      "false\tError invoking remote method 'r': Error: (a table error object whose text could not be read)",
    }, said(r, "ui"), r.stdout .. r.stderr)
    assert_line(r.stderr, "mainhost: Error occurred in handler for 'n': 42")
    assert_line(r.stderr, "mainhost: Error occurred in handler for 'm': custom msg")
    assert_line(r.stderr, "mainhost: Error occurred in handler for 'i': via index", r.stderr)
    -- The message handler's own read of the object raised: the log says so
    -- instead of the error of __tostring replacing the handler's.
    assert_line(r.stderr, "mainhost: Error occurred in handler for 'r': (error object is a table value)")
  end)

  -- The encoder kept the tables on its way down in a fixed array of 256,
  -- so with "maxDepth" above 258 neither main nor a Lua renderer could send
  -- what the limit allows (and mainhost.json's encode stopped at 256 of its
  -- 1000 levels).
  it("sends tables nested as deep as maxDepth allows, both ways, past 256 levels", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", limits = { maxDepth = 1000 },
        renderers = { { name = "ui", script = "ui.lua" } } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        local function nest(n) local t = {} for _ = 1, n do t = { t } end return t end
        local function depth(t) local d = 0 while type(t) == "table" do d, t = d + 1, t[1] end return d end
        mh.ipcMain.on("ready", function(e) e.reply("deep", nest(900)) end)
        mh.ipcMain.on("back", function(e, got, t)
          print("main: ui got " .. got .. ", sent back " .. depth(t))
          print("main: json " .. tostring(pcall(require("mainhost").json.encode, nest(999))))
          mh.app.quit()
        end)
      ]],
      ["ui.lua"] = [[
        local ipc = require("mainhost.renderer").ipcRenderer
        local function depth(t) local d = 0 while type(t) == "table" do d, t = d + 1, t[1] end return d end
        ipc.on("deep", function(e, t) ipc.send("back", depth(t), t) end)
        ipc.send("ready")
      ]],
    }, { timeout = 20000 })
    assert_line(r.stdout, "main: ui got 901, sent back 901", r.stdout .. r.stderr)
    assert_line(r.stdout, "main: json true", r.stdout .. r.stderr)
  end)

  -- A protocol variable in a renderer's "env" ended up twice in its
  -- environment (the host's value, then the config's): a shell saw one, C's
  -- getenv the other. It is a config error now, and createRenderer's.
  it("refuses the protocol's variables in a renderer's env, in the config and in createRenderer", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua",
        env = { FOO = "1", NODE_CHANNEL_FD = "7" } } } },
      ["main.lua"] = "",
      ["ui.lua"] = "",
    }, { timeout = 20000 })
    assert.are.equal(2, r.code, r.stdout .. r.stderr)
    assert.matches("mainhost.json: renderers[0].env.NODE_CHANNEL_FD: set by the host in every renderer's "
      .. "environment (the protocol's variables); it cannot be set here", r.stderr, 1, true)

    r = app({
      ["mainhost.json"] = { main = "main.lua" },
      ["main.lua"] = [[
        local mh = require("mainhost")
        print("main: " .. select(2, pcall(mh.createRenderer, { script = "ui.lua", env = { MAINHOST_IPC_FD = "9" } })))
        mh.app.quit()
      ]],
      ["ui.lua"] = "",
    }, { timeout = 20000 })
    assert_line(r.stdout, "main: createRenderer: 'env.MAINHOST_IPC_FD': set by the host in every renderer's "
      .. "environment (the protocol's variables); it cannot be set here", r.stdout .. r.stderr)
  end)

  -- event.reply took a number for a channel (sending on "42") and raised a
  -- bare "bad argument" for other types, where Electron's reply, like
  -- wc.send and frame.send here, raises "Missing required channel argument".
  -- And both took any table as their own self (the colon form), so a table
  -- for a channel sent on the next argument.
  it("raises 'Missing required channel argument' from event.reply and frame.send for a channel that is not a "
    .. "string", function()
    local r = S.run([[
      mh.ipcMain.on("hi", function(e)
        for _, f in ipairs({ e.reply, e.senderFrame.send }) do
          for _, ch in ipairs({ 42, true, {} }) do
            local ok, err = pcall(f, ch, "a")
            print("main: " .. tostring(ok) .. " " .. tostring(err))
          end
        end
        e.reply("ok", "a")
      end)
      quit_on("done")
    ]], [[
      ipc.on("42", function() print("got 42") end)
      ipc.on("ok", function() print("got ok") ipc.send("done") end)
      ipc.send("hi")
    ]])
    local main = said(r, "main")
    assert.are.equal(6, #main, r.stdout .. r.stderr)
    for _, l in ipairs(main) do assert.matches("^false .*Missing required channel argument$", l) end
    assert.are.same({ "got ok" }, said(r, "ui"), r.stdout .. r.stderr)
  end)
end)

describe("review by a hostile renderer", function()
  after_each(function() t.cleanup() end)

  -- When a renderer exits the host reads what it wrote before exiting. It
  -- read until the socket was empty, so a child that inherited the socket
  -- and kept writing held the host in that loop: every other renderer
  -- waited as long as the child wrote. Now it reads what was queued when
  -- the renderer exited, and closes the socket.
  it("does not let a child that inherited a renderer's socket hold the host after the renderer exits", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", renderers = {
        { name = "evil", command = { "python3", "evil.py" } },
        { name = "ui", script = "ui.lua" } } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        local ui
        mh.app.on("web-contents-created", function(_, wc)
          if wc.name == "ui" then ui = wc end
          if wc.name == "evil" then
            wc.on("render-process-gone", function() print("main: evil gone") ui.send("go") end)
          end
        end)
        mh.ipcMain.on("flood", function() end)
        mh.ipcMain.handle("ping", function() return "pong" end)
        mh.ipcMain.on("done", function() mh.app.quit() end)
      ]],
      ["ui.lua"] = [[
        local ipc = require("mainhost.renderer").ipcRenderer
        ipc.on("go", function() print(ipc.invoke("ping")) ipc.send("done") end)
      ]],
      ["evil.py"] = [[
import os, socket, sys, time
s = socket.socket(fileno=int(os.environ["MAINHOST_IPC_FD"]))
s.sendall(b'{"k":"hello","v":1,"pid":%d}\n' % os.getpid())
if os.fork() == 0:
    line = b'{"k":"send","ch":"flood","args":[' + b','.join([b'[]'] * 2000) + b']}\n'
    end = time.time() + 60
    try:
        while time.time() < end:
            s.sendall(line)
    except OSError:
        pass
    os._exit(0)
time.sleep(1)  # exit while the child floods
os._exit(0)
]],
    }, { timeout = 30000 })
    assert_line(r.stdout, "main: evil gone", r.stdout .. r.stderr:sub(1, 2000))
    assert.are.same({ "pong" }, said(r, "ui"), r.stdout .. r.stderr:sub(1, 2000))
  end)

  -- The host kept a renderer's output line until its newline: one that
  -- wrote without newlines grew the host without limit. A line is now
  -- passed on in pieces of at most 64 KiB.
  it("passes on a renderer's output line longer than 64 KiB in pieces, holding no more than that", function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "w", command = { "python3", "w.py" } } } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.app.on("window-all-closed", function() mh.app.quit() end)
      ]],
      ["w.py"] = [[
import os, time
# Odd-sized writes, so that the host's reads split the line anywhere.
left = 200000
while left:
    n = min(7001, left)
    os.write(1, b"A" * n)
    left -= n
os.write(1, b"\nshort\n")
# One byte short of the limit, then the rest in a later read.
os.write(1, b"C" * 65535)
time.sleep(0.2)
os.write(1, b"BB\n")
]],
    }, { timeout = 20000 })
    local sizes = {}
    for _, l in ipairs(said(r, "w")) do sizes[#sizes + 1] = #l end
    assert.are.same({ 65536, 65536, 65536, 200000 - 3 * 65536, 5, 65536, 1 }, sizes, r.stderr)
  end)

  -- The refusals of renderer 'evil' (id 1) in the host's stderr: how many
  -- were logged one by one, and how many only counted.
  local function refusals_of_evil(stderr)
    local logged, unlogged = 0, 0
    for line in stderr:gmatch("[^\n]+") do
      if line:find("renderer 'evil' (id 1): refused a message: ", 1, true) then logged = logged + 1 end
      local n = line:match("renderer 'evil' %(id 1%): (%d+) more messages refused in that second, not logged")
      if n then unlogged = unlogged + tonumber(n) end
    end
    return logged, unlogged
  end

  -- Each refused line was logged: a flood of tiny bad lines became a log
  -- many times its size (and one write to stderr per line). At most 20 are
  -- logged a second for a renderer; the rest are counted in one line.
  it("logs at most 20 refusals a second for a renderer, and counts the rest", function()
    local r = S.py_app("evil", [[
      local mh = require("mainhost")
      mh.app.on("window-all-closed", function() mh.app.quit() end)
    ]], [[
send(b'x\n' * 500)
]])
    local logged, unlogged = refusals_of_evil(r.stderr)
    assert.are.equal(500, logged + unlogged, r.stderr)
    assert(logged <= 40, r.stderr)
  end)

  -- The same count when the app quits while the renderer still runs: the
  -- refusals of its last second are counted at quit, not lost.
  it("counts the refusals it did not log when the app quits with the renderer still running", function()
    local r = S.py_app("evil", [[
      local mh = require("mainhost")
      mh.ipcMain.on("done", function() mh.app.quit() end)
    ]], [[
import time
send(b'x\n' * 500 + b'{"k":"send","ch":"done","args":[]}\n')
time.sleep(60)
]])
    local logged, unlogged = refusals_of_evil(r.stderr)
    assert.are.equal(500, logged + unlogged, r.stderr)
  end)

  -- event.senderFrame's object was kept per frame number for the life of
  -- the renderer, and the numbers are the renderer's to choose: one
  -- sending from a new frame number each time grew the host's memory
  -- without limit (~530 bytes a message). Frame objects are now held weakly.
  it("does not keep a frame object for every frame number a renderer sends from", function()
    local r = S.py_app("evil", [[
      local mh = require("mainhost")
      collectgarbage()
      local before = collectgarbage("count")
      local seen = 0
      mh.ipcMain.on("guarded", function(e) if e.senderFrame.name == "evil" then seen = seen + 1 end end)
      mh.ipcMain.on("done", function()
        collectgarbage()
        collectgarbage()
        print(("main: %d frames seen, %s KiB more"):format(seen,
          collectgarbage("count") - before < 1024 and "under 1024" or math.floor(collectgarbage("count") - before)))
        mh.app.quit()
      end)
    ]], [[
send(b''.join(b'{"k":"send","ch":"guarded","frame":%d}\n' % n for n in range(2, 20002)))
send(b'{"k":"send","ch":"done"}\n')
sock.recv(1)
]], nil, 30000)
    assert_line(r.stdout, "main: 20000 frames seen, under 1024 KiB more", r.stdout .. r.stderr:sub(1, 2000))
  end)

  -- The exit drain took the throttle off, but dispatching the drained lines
  -- put it back on as soon as the answers queued for the exited renderer
  -- passed the limit (or, without it, passed twice the limit and got the
  -- renderer disconnected): its last lines were dropped, and logged as a
  -- last message without a newline. Answers to an exited renderer are now
  -- dropped while its lines are drained. Main's first listener holds the
  -- host until the renderer has exited, so that its other lines are read
  -- in the loop turn that sees the exit.
  it("handles every line a renderer sent before exiting, even past maxQueuedBytes of unread answers", function()
    local r = S.py_app("evil", [[
      local mh = require("mainhost")
      local big, n = ("x"):rep(10000), 0
      mh.ipcMain.on("wait-for-exit", function(e)
        local deadline = os.time() + 10
        repeat  -- until the renderer is a zombie (the host reaps it later)
          local f = io.open("/proc/" .. e.processId .. "/stat")
          local st = f and f:read("a"):match("^%d+ %b() (%a)")
          if f then f:close() end
        until st == "Z" or not st or os.time() > deadline
      end)
      mh.ipcMain.handle("big", function() n = n + 1 return big end)
      mh.ipcMain.on("last", function() print("main: last handled after " .. n) end)
      mh.app.on("window-all-closed", function() mh.app.quit() end)
    ]], [[
import time
send(b'{"k":"send","ch":"wait-for-exit","args":[]}\n')
time.sleep(0.2)  # the rest comes in a later read, with the exit
send(b''.join(b'{"k":"invoke","ch":"big","id":%d,"args":[]}\n' % i for i in range(1, 41))
     + b'{"k":"send","ch":"last","args":[]}\n')
]], { limits = { maxQueuedBytes = 65536 } }, 30000)
    assert_line(r.stdout, "main: last handled after 40", r.stdout .. r.stderr)
    assert.is_nil(r.stderr:find("no newline", 1, true), r.stderr)
  end)
end)
