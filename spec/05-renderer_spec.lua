-- The Lua renderer runtime (`mainhost --renderer`), end to end with a real
-- host: where scripts run (coroutines, luv callbacks), what they are given
-- (arguments, luv on their own loop), ipcRenderer's listener bookkeeping,
-- and how a renderer ends (its host quits, its host is killed, it fails).
local t = require("mainhost.test")
local S = require("support.app")
local line_at, assert_line = S.line_at, S.assert_line
local uv = require("luv")

-- A main script every app here shares: "add" answers a + b after pushing a
-- "ping" (so a renderer that waits without blocking sees the ping first),
-- "echo" sends (ch, ...) straight back, "done" quits.
local MAIN = [[
local mh = require("mainhost")
mh.ipcMain.handle("add", function(e, a, b)
  e.sender.send("ping")
  return a + b
end)
mh.ipcMain.on("echo", function(e, ch, ...) e.sender.send(ch, ...) end)
mh.ipcMain.on("done", function() print("main: got done") mh.app.quit() end)
]]

local UI_HEAD = 'local ipc = require("mainhost.renderer").ipcRenderer\n'

local function app(files, renderers)
  files["main.lua"] = files["main.lua"] or MAIN
  files["mainhost.json"] = { main = "main.lua", renderers = renderers or { { name = "ui", script = "ui.lua" } } }
  local r = t.run_app(files)
  assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
  return r
end

local function ok_app(files, renderers)
  local r = app(files, renderers)
  assert.are.equal(0, r.code, r.stdout .. r.stderr)
  return r
end

local function assert_before(text, first, second, all)
  local a, b = assert_line(text, first, all), assert_line(text, second, all)
  assert(a < b, ("expected\n  %s\nbefore\n  %s\nin\n%s"):format(first, second, all or text))
end

describe("the Lua renderer runtime", function()
  after_each(t.cleanup)

  describe("runs code where invoke works", function()
    it("runs the script's top level in a coroutine, where invoke waits while other messages are handled", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        ipc.on("ping", function() print("ping arrived") end)
        local _, is_main = coroutine.running()
        print("top: main thread " .. tostring(is_main) .. ", yieldable " .. tostring(coroutine.isyieldable()))
        print("sum " .. ipc.invoke("add", 2, 3))
        ipc.send("done")
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] top: main thread false, yieldable true", all)
      assert_before(r.stdout, "[ui] ping arrived", "[ui] sum 5", all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("runs each listener in a coroutine, where invoke returns the handler's value", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        ipc.on("ping", function() print("ping arrived") end)
        ipc.on("go", function(event, a, b)
          local _, is_main = coroutine.running()
          print("listener: main thread " .. tostring(is_main) .. ", yieldable " .. tostring(coroutine.isyieldable()))
          print("sum " .. ipc.invoke("add", a, b))
          ipc.send("done")
        end)
        ipc.send("echo", "go", 4, 5)
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] listener: main thread false, yieldable true", all)
      assert_before(r.stdout, "[ui] ping arrived", "[ui] sum 9", all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("lets invoke work inside a coroutine the script makes with coroutine.wrap", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        coroutine.wrap(function()
          print("wrapped sum " .. ipc.invoke("add", 1, 2))
          ipc.send("done")
        end)()
        print("top level goes on")
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] wrapped sum 3", all)
      assert_line(r.stdout, "[ui] top level goes on", all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("gives invoke's reply to a script's own coroutine even when the script resumes it while it waits", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        local co = coroutine.create(function()
          print("own sum " .. tostring(ipc.invoke("add", 10, 20)))
          ipc.send("done")
        end)
        assert(coroutine.resume(co))
        -- A stray resume while the invoke is pending must not end the wait.
        print("stray resume " .. tostring((coroutine.resume(co, "not the reply"))))
        print("status " .. coroutine.status(co))
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] stray resume true", all)
      assert_line(r.stdout, "[ui] status suspended", all)
      assert_line(r.stdout, "[ui] own sum 30", all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("lets invoke work from a luv timer callback, which is no coroutine, by blocking until the reply", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        local uv = require("luv")
        local timer = uv.new_timer()
        timer:start(0, 0, function()
          timer:close()
          local _, is_main = coroutine.running()
          print("timer: main thread " .. tostring(is_main) .. ", yieldable " .. tostring(coroutine.isyieldable()))
          print("timer sum " .. ipc.invoke("add", 20, 22))
          ipc.send("done")
        end)
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] timer: main thread true, yieldable false", all)
      assert_line(r.stdout, "[ui] timer sum 42", all)
      assert_line(r.stdout, "main: got done", all)
    end)
  end)

  describe("ipcRenderer.send, sendSync and invoke", function()
    -- "x" logs what it got and from which frame, answers sendSync with the
    -- frame and the number of arguments, and invoke with several values;
    -- "upper" answers its argument in capitals; "echo" sends (ch, ...) back.
    local XMAIN = [[
local mh = require("mainhost")
local function show(e, ...)
  local p = table.pack(...)
  for i = 1, p.n do p[i] = tostring(p[i]) end
  print(("main: frame %d n=%d %s"):format(e.frameId, p.n, table.concat(p, ",", 1, p.n)))
end
mh.ipcMain.on("x", function(e, ...)
  show(e, ...)
  if e.returnValue == nil then e.returnValue = "sync frame " .. e.frameId .. " n=" .. select("#", ...) end
end)
mh.ipcMain.handle("x", function(e, ...)
  show(e, ...)
  return "invoke", e.frameId, select("#", ...)
end)
mh.ipcMain.handle("upper", function(e, s) return s:upper() end)
mh.ipcMain.on("echo", function(e, ch, ...) e.sender.send(ch, ...) end)
mh.ipcMain.on("done", function() print("main: got done") mh.app.quit() end)
]]
    local HEAD = 'local R = require("mainhost.renderer")\nlocal ipc = R.ipcRenderer\n'

    it("work called with a dot and with a colon, on the main frame's ipcRenderer and on a sub-frame's", function()
      local r = ok_app({ ["main.lua"] = XMAIN, ["ui.lua"] = HEAD .. [[
        local sub = R.openFrame()
        print("sub frame " .. sub.id)
        for _, f in ipairs({ { "main", ipc }, { "sub", sub.ipcRenderer } }) do
          local name, x = f[1], f[2]
          x.send("x", name .. " dot send", 1, nil, 3)
          x:send("x", name .. " colon send", 1, nil, 3)
          print(name .. " dot sendSync: " .. x.sendSync("x", name .. " dot sendSync", 1))
          print(name .. " colon sendSync: " .. x:sendSync("x", name .. " colon sendSync", 1))
          print(name .. " dot invoke: " .. table.concat({ x.invoke("x", name .. " dot invoke", 1, 2) }, " "))
          print(name .. " colon invoke: " .. table.concat({ x:invoke("x", name .. " colon invoke", 1, 2) }, " "))
          x:send("x")
        end
        ipc:send("done")
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] sub frame 2", all)
      local main, ui = {}, {}
      for _, l in ipairs(t.lines(r.stdout)) do
        if l:match("^main: frame ") then main[#main + 1] = l end
        if l:match("^%[ui%] %a+ %a+ %a+: ") then ui[#ui + 1] = l end
      end
      local want_main, want_ui = {}, {}
      for _, f in ipairs({ { "main", 1 }, { "sub", 2 } }) do
        local name, id = f[1], f[2]
        local function m(fmt, ...) want_main[#want_main + 1] = ("main: frame %d " .. fmt):format(id, ...) end
        m("n=4 %s dot send,1,nil,3", name)
        m("n=4 %s colon send,1,nil,3", name)
        m("n=2 %s dot sendSync,1", name)
        m("n=2 %s colon sendSync,1", name)
        m("n=3 %s dot invoke,1,2", name)
        m("n=3 %s colon invoke,1,2", name)
        m("n=0 ")
        for _, how in ipairs({ "dot", "colon" }) do
          want_ui[#want_ui + 1] = ("[ui] %s %s sendSync: sync frame %d n=2"):format(name, how, id)
        end
        for _, how in ipairs({ "dot", "colon" }) do
          want_ui[#want_ui + 1] = ("[ui] %s %s invoke: invoke %d 3"):format(name, how, id)
        end
      end
      assert.are.same(want_main, main, all)
      assert.are.same(want_ui, ui, all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("raise \"bad argument #1 to 'NAME' (channel must be a string, got TYPE)\" at the caller's line for a "
      .. "channel that is not a string, in either form and on any frame", function()
      local src = HEAD .. [[
local sub = R.openFrame()
local function try(f)
  local ok, err = pcall(f)
  err = tostring(err)
  -- The position is the script's own path (arg[0]) and line.
  if err:sub(1, #arg[0] + 1) == arg[0] .. ":" then err = "ui.lua" .. err:sub(#arg[0] + 1) end
  print(tostring(ok) .. " " .. err)
end
try(function() ipc.send(nil, 1) end) -- @send nil
try(function() ipc:send(42) end) -- @send number
try(function() ipc.sendSync({}) end) -- @sendSync table
try(function() ipc:sendSync(true, "x") end) -- @sendSync boolean
try(function() ipc.invoke() end) -- @invoke none
try(function() ipc:invoke(nil, 1) end) -- @invoke colon nil
try(function() sub.ipcRenderer.send(1.5) end) -- @sub send
try(function() sub.ipcRenderer:sendSync(nil) end) -- @sub sendSync
try(function() sub.ipcRenderer:invoke(7) end) -- @sub invoke
coroutine.wrap(function()
  print("after an invoke: " .. ipc.invoke("upper", "ok"))
  try(function() ipc:invoke({}) end) -- @in a coroutine
  ipc.send("done")
end)()
]]
      local function line_of(marker)
        local n = 0
        for l in (src .. "\n"):gmatch("([^\n]*)\n") do
          n = n + 1
          if l:find("-- @" .. marker, 1, true) then return n end
        end
        error("no marker " .. marker)
      end
      local r = ok_app({ ["main.lua"] = XMAIN, ["ui.lua"] = src })
      local function bad(marker, name, typ)
        return ("[ui] false ui.lua:%d: bad argument #1 to '%s' (channel must be a string, got %s)"):format(
          line_of(marker), name, typ)
      end
      local want = {
        bad("send nil", "send", "nil"),
        bad("send number", "send", "number"),
        bad("sendSync table", "sendSync", "table"),
        bad("sendSync boolean", "sendSync", "boolean"),
        bad("invoke none", "invoke", "nil"),
        bad("invoke colon nil", "invoke", "nil"),
        bad("sub send", "send", "number"),
        bad("sub sendSync", "sendSync", "nil"),
        bad("sub invoke", "invoke", "number"),
        "[ui] after an invoke: OK",
        bad("in a coroutine", "invoke", "table"),
      }
      local got = {}
      for _, l in ipairs(t.lines(r.stdout)) do
        if l:match("^%[ui%] ") then got[#got + 1] = l end
      end
      assert.are.same(want, got, r.stdout .. r.stderr)
      -- Nothing reached the main script but the good invoke and "done".
      local main = {}
      for _, l in ipairs(t.lines(r.stdout)) do
        if l:match("^main: ") then main[#main + 1] = l end
      end
      assert.are.same({ "main: got done" }, main)
    end)

    it("make invoke block and return the handler's value inside a function Lua cannot yield across "
      .. "(a string.gsub replacement), even in a coroutine", function()
      local r = ok_app({ ["main.lua"] = XMAIN, ["ui.lua"] = HEAD .. [[
        local yieldable
        local out = ("abc"):gsub("[ac]", function(c)
          yieldable = coroutine.isyieldable()
          return ipc.invoke("upper", c)
        end)
        local _, is_main = coroutine.running()
        print("top level: main thread " .. tostring(is_main) .. ", yieldable in gsub " .. tostring(yieldable)
          .. ": " .. out)
        ipc.on("go", function()
          print("listener: " .. (("xyz"):gsub("y", function(c) return ipc.invoke("upper", c) end)))
          ipc.send("done")
        end)
        ipc.send("echo", "go")
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] top level: main thread false, yieldable in gsub false: AbC", all)
      assert_line(r.stdout, "[ui] listener: xYz", all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("give each of many invokes in flight at once, from coroutines of all kinds and two frames, its own "
      .. "answer when main answers them in a scrambled order", function()
      local r = ok_app({ ["main.lua"] = [[
local mh = require("mainhost")
local uv = require("luv")
local TOTAL = 30
local parked = {}
mh.ipcMain.handle("q", function(e, tag)
  parked[#parked + 1] = coroutine.running()
  if #parked == TOTAL then
    print("main: all " .. TOTAL .. " in flight")
    local list = parked
    parked = {}
    local tm = uv.new_timer()
    tm:start(0, 0, function()
      tm:close()
      for k = 1, TOTAL do assert(coroutine.resume(list[(k * 7) % TOTAL + 1])) end
    end)
  end
  coroutine.yield()
  return "answer to " .. tag, e.frameId
end)
mh.ipcMain.on("sync", function(e, n) e.returnValue = "sync " .. n end)
mh.ipcMain.on("done", function() print("main: got done") mh.app.quit() end)
]], ["ui.lua"] = HEAD .. [[
        local async = require("mainhost.async")
        local sub = R.openFrame()
        local answered, wrong = 0, {}
        local function ask(x, tag, frame)
          local a, f
          if #tag % 2 == 0 then a, f = x.invoke("q", tag) else a, f = x:invoke("q", tag) end
          if a ~= "answer to " .. tag or f ~= frame then
            wrong[#wrong + 1] = tag .. " got " .. tostring(a) .. " from frame " .. tostring(f)
          end
          answered = answered + 1
          if answered == 30 then
            print("answered " .. answered .. ", wrong: " .. (#wrong == 0 and "none" or table.concat(wrong, "; ")))
            ipc.send("done")
          end
        end
        for k = 1, 10 do
          coroutine.wrap(ask)(ipc, "wrap-main-" .. k, 1)
          coroutine.wrap(ask)(sub.ipcRenderer, "wrap-sub-" .. k, sub.id)
          async.spawn(ask, ipc, "spawn-" .. k, 1)
        end
        -- sendSync takes its id from the same counter while the invokes wait.
        print("all asked, then " .. ipc.sendSync("sync", 1) .. ", answered so far " .. answered)
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] all asked, then sync 1, answered so far 0", all)
      assert_line(r.stdout, "main: all 30 in flight", all)
      assert_line(r.stdout, "[ui] answered 30, wrong: none", all)
      assert_line(r.stdout, "main: got done", all)
    end)
  end)

  it("runs require('luv') timers and child processes on the renderer's own loop", function()
    local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
      local uv = require("luv")
      local fired, exited = 0, false
      local function finish()
        if fired == 3 and exited then ipc.send("done") end
      end
      local timer = uv.new_timer()
      timer:start(1, 1, function()
        fired = fired + 1
        if fired == 3 then
          timer:close()
          print("timer fired 3 times")
          finish()
        end
      end)
      local child
      child = uv.spawn("sh", { args = { "-c", "exit 7" } }, function(code)
        child:close()
        print("child exited " .. code)
        exited = true
        finish()
      end)
    ]] })
    local all = r.stdout .. r.stderr
    assert_line(r.stdout, "[ui] timer fired 3 times", all)
    assert_line(r.stdout, "[ui] child exited 7", all)
    assert_line(r.stdout, "main: got done", all)
  end)

  it("passes the config's args to the script as ... and in arg, with arg[0] the script path", function()
    local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
      print("dots " .. select("#", ...))
      for i = 1, select("#", ...) do print(("dots[%d] %q"):format(i, (select(i, ...)))) end
      print("arg[0] " .. arg[0])
      for i = 1, 3 do print(("arg[%d] %q"):format(i, arg[i])) end
      print("arg[4] " .. tostring(arg[4]))
      ipc.send("done")
    ]] }, { { name = "ui", script = "ui.lua", args = { "one", "two words", "" } } })
    local all = r.stdout .. r.stderr
    local script = assert(uv.fs_realpath(r.dir .. "/ui.lua"))
    assert_line(r.stdout, "[ui] dots 3", all)
    assert_line(r.stdout, '[ui] dots[1] "one"', all)
    assert_line(r.stdout, '[ui] dots[2] "two words"', all)
    assert_line(r.stdout, '[ui] dots[3] ""', all)
    assert_line(r.stdout, "[ui] arg[0] " .. script, all)
    assert_line(r.stdout, '[ui] arg[1] "one"', all)
    assert_line(r.stdout, '[ui] arg[2] "two words"', all)
    assert_line(r.stdout, '[ui] arg[3] ""', all)
    assert_line(r.stdout, "[ui] arg[4] nil", all)
  end)

  describe("ipcRenderer listeners", function()
    it("runs a once listener for the first message only and then drops it", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        local n = 0
        ipc.once("tick", function(event, i) n = n + 1 print("once got tick " .. i) end)
        print("listeners after once " .. ipc.listenerCount("tick"))
        ipc.on("end", function()
          print("once ran " .. n .. " time(s), listeners left " .. ipc.listenerCount("tick"))
          ipc.send("done")
        end)
        for i = 1, 3 do ipc.send("echo", "tick", i) end
        ipc.send("echo", "end")
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] listeners after once 1", all)
      assert_line(r.stdout, "[ui] once got tick 1", all)
      assert_line(r.stdout, "[ui] once ran 1 time(s), listeners left 0", all)
    end)

    it("stops calling a listener after removeListener and keeps the others", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        local a, b = 0, 0
        local function fa() a = a + 1 end
        local function fb() b = b + 1 end
        ipc.on("tick", fa)
        ipc.on("tick", fb)
        print("listeners " .. ipc.listenerCount("tick"))
        ipc.on("remove-a", function()
          ipc.removeListener("tick", fa)
          print("listeners after removeListener " .. ipc.listenerCount("tick"))
        end)
        ipc.on("end", function()
          print("a " .. a .. ", b " .. b)
          ipc.send("done")
        end)
        ipc.send("echo", "tick")
        ipc.send("echo", "remove-a")
        ipc.send("echo", "tick")
        ipc.send("echo", "tick")
        ipc.send("echo", "end")
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] listeners 2", all)
      assert_line(r.stdout, "[ui] listeners after removeListener 1", all)
      assert_line(r.stdout, "[ui] a 1, b 3", all)
    end)

    it("drops one channel's listeners with removeAllListeners(ch) and every listener with removeAllListeners()",
      function()
        local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
          local hits = {}
          local function hit(name) return function() hits[name] = (hits[name] or 0) + 1 end end
          ipc.on("x", hit("x1"))
          ipc.on("x", hit("x2"))
          ipc.on("y", hit("y"))
          ipc.removeAllListeners("x")
          print("after removeAllListeners('x'): x " .. ipc.listenerCount("x") .. ", y " .. ipc.listenerCount("y"))
          ipc.on("x", hit("x3"))
          ipc.removeAllListeners()
          print("after removeAllListeners(): x " .. ipc.listenerCount("x") .. ", y " .. ipc.listenerCount("y"))
          ipc.on("z", hit("z"))
          ipc.on("end", function()
            print(("hits x1=%d x2=%d x3=%d y=%d z=%d"):format(hits.x1 or 0, hits.x2 or 0, hits.x3 or 0,
              hits.y or 0, hits.z or 0))
            ipc.send("done")
          end)
          for _, ch in ipairs({ "x", "y", "z", "end" }) do ipc.send("echo", ch) end
        ]] })
        local all = r.stdout .. r.stderr
        assert_line(r.stdout, "[ui] after removeAllListeners('x'): x 0, y 1", all)
        assert_line(r.stdout, "[ui] after removeAllListeners(): x 0, y 0", all)
        assert_line(r.stdout, "[ui] hits x1=0 x2=0 x3=0 y=0 z=1", all)
      end)

    it("counts every registration in listenerCount, the same function twice included", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        local n = 0
        local function f() n = n + 1 end
        print("none " .. ipc.listenerCount("c"))
        ipc.on("c", f)
        ipc.on("c", f)
        ipc.once("c", function() end)
        print("three " .. ipc.listenerCount("c"))
        ipc.on("end", function()
          print("f ran " .. n .. ", left " .. ipc.listenerCount("c"))
          ipc.send("done")
        end)
        ipc.send("echo", "c")
        ipc.send("echo", "end")
      ]] })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] none 0", all)
      assert_line(r.stdout, "[ui] three 3", all)
      assert_line(r.stdout, "[ui] f ran 2, left 2", all)
    end)
  end)

  describe("ipcRenderer listeners' events", function()
    it("give each message its own event: sender and frameId of its frame, a fresh empty ports array, "
      .. "and what a listener sets staying on that event", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        local R = require("mainhost.renderer")
        local sub = R.openFrame()
        local seen = {}
        local function check(tag, ipcr, frame_id)
          return function(event, i)
            local fresh = event.ports ~= seen.last_ports and type(event.ports) == "table" and #event.ports == 0
            table.insert(event.ports, "mine")
            seen.last_ports = event.ports
            print(("%s %d sender ok %s frameId %s ports fresh %s foo %s"):format(tag, i,
              tostring(rawequal(event.sender, ipcr)), tostring(event.frameId), tostring(fresh),
              tostring(event.foo)))
            event.foo = "set by " .. tag
            event.frameId = 99
          end
        end
        ipc.on("tick", check("main", ipc, 1))
        sub.ipcRenderer.on("tick", check("sub", sub.ipcRenderer, sub.id))
        ipc.on("end", function() ipc.send("done") end)
        for i = 1, 2 do
          ipc.send("reply", "tick", i)
          sub.ipcRenderer.send("reply", "tick", i)
        end
        ipc.send("echo", "end")
      ]], ["main.lua"] = MAIN .. 'mh.ipcMain.on("reply", function(e, ch, ...) e.reply(ch, ...) end)\n' })
      local all = r.stdout .. r.stderr
      for i = 1, 2 do
        assert_line(r.stdout, ("[ui] main %d sender ok true frameId 1 ports fresh true foo nil"):format(i), all)
        assert_line(r.stdout, ("[ui] sub %d sender ok true frameId 2 ports fresh true foo nil"):format(i), all)
      end
    end)

    it("go through ipcRenderer.emit when the script replaced it (to log or filter messages)", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        local R = require("mainhost.renderer")
        local sub = R.openFrame()
        local orig, sorig = ipc.emit, sub.ipcRenderer.emit
        ipc.emit = function(ch, event, ...)
          print("patched emit saw " .. ch .. " frame " .. event.frameId)
          if ch ~= "hidden" then return orig(ch, event, ...) end
        end
        sub.ipcRenderer.emit = function(ch, event, ...)
          print("patched sub emit saw " .. ch .. " frame " .. event.frameId)
          return sorig(ch, event, ...)
        end
        ipc.on("hidden", function() print("hidden reached its listener") end)
        ipc.on("shown", function() print("shown reached its listener") end)
        sub.ipcRenderer.on("shown", function() print("sub shown reached its listener") end)
        ipc.on("end", function() ipc.send("done") end)
        ipc.send("echo", "hidden")
        ipc.send("echo", "shown")
        sub.ipcRenderer.send("reply", "shown")
        ipc.send("echo", "end")
      ]], ["main.lua"] = MAIN .. 'mh.ipcMain.on("reply", function(e, ch, ...) e.reply(ch, ...) end)\n' })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] patched emit saw hidden frame 1", all)
      assert_line(r.stdout, "[ui] patched emit saw shown frame 1", all)
      assert_line(r.stdout, "[ui] shown reached its listener", all)
      assert_line(r.stdout, "[ui] patched sub emit saw shown frame 2", all)
      assert_line(r.stdout, "[ui] sub shown reached its listener", all)
      assert.is_nil(line_at(r.stdout, "[ui] hidden reached its listener"), all)
    end)

    it("run a single listener (once or not) and report its error under the channel's name, "
      .. "also after the channel's listeners were removed and added again", function()
      local r = app({ ["ui.lua"] = UI_HEAD .. [[
        ipc.on("boom", function() error("first boom") end)
        ipc.on("step", function(_, i)
          if i == 1 then
            ipc.removeAllListeners("boom")
            ipc.once("boom", function() error("second boom") end)
          elseif i == 2 then
            print("once left " .. ipc.listenerCount("boom"))
            ipc.removeAllListeners()
            ipc.on("boom", function() error("third boom") end)
            ipc.on("end", function() ipc.send("done") end)
          end
        end)
        ipc.send("echo", "boom")
        ipc.send("echo", "step", 1)
        ipc.send("echo", "boom")
        ipc.send("echo", "boom")
        ipc.send("echo", "step", 2)
        ipc.send("echo", "boom")
        ipc.send("echo", "end")
      ]] })
      local all = r.stdout .. r.stderr
      assert.are.equal(0, r.code, all)
      assert_line(r.stdout, "[ui] once left 0", all)
      local errs = {}
      for _, l in ipairs(t.lines(r.stderr)) do
        local what = l:match("listener for 'boom'.-(%a+ boom)")
        if what then errs[#errs + 1] = what end
      end
      assert.are.same({ "first boom", "second boom", "third boom" }, errs)
    end)
  end)

  describe("ending", function()
    it("exits 0 when the host closes its channel on mh.app.quit", function()
      -- sh runs the renderer and reports its exit status on its own stdout.
      local r = ok_app({
        ["main.lua"] = [[
          local mh = require("mainhost")
          mh.ipcMain.on("ready", function() mh.app.quit() end)
        ]],
        ["ui.lua"] = UI_HEAD .. [[
          -- Keeps the loop alive: only the channel's end can stop this renderer.
          require("luv").new_timer():start(3600000, 0, function() end)
          ipc.send("ready")
        ]],
      }, { { name = "ui", command = { "sh", "-c", '"$0" --renderer ui.lua; echo "renderer exit $?"', t.bin } } })
      assert_line(r.stdout, "[ui] renderer exit 0", r.stdout .. r.stderr)
      assert.not_matches("SIGTERM", r.stderr, 1, true)
      assert.not_matches("SIGKILL", r.stderr, 1, true)
    end)

    it("exits on its own when its host is killed with SIGKILL", function()
      local r = app({
        ["main.lua"] = [[
          local mh = require("mainhost")
          local uv = require("luv")
          mh.ipcMain.on("ready", function(e, rpid)
            print("renderer pid " .. rpid)
            print("host pid " .. uv.os_getpid())
            uv.kill(uv.os_getpid(), "sigkill")
          end)
        ]],
        ["ui.lua"] = UI_HEAD .. [[
          local uv = require("luv")
          -- Keeps the loop alive: only the host's death can stop this renderer.
          uv.new_timer():start(3600000, 0, function() end)
          ipc.send("ready", uv.os_getpid())
        ]],
      })
      local all = r.stdout .. r.stderr
      local rpid = tonumber(r.stdout:match("renderer pid (%d+)"))
      assert(rpid, "the renderer did not report its pid:\n" .. all)
      assert.are.equal(9, r.signal, "the host was not killed by SIGKILL:\n" .. all)
      assert.are.equal(tostring(r.pid), r.stdout:match("host pid (%d+)"))
      local ok, err = pcall(t.wait_for, function() return not t.alive(rpid) end, 10000,
        "renderer " .. rpid .. " to exit after its host was killed")
      if t.alive(rpid) then uv.kill(rpid, "sigkill") end
      assert(ok, err)
    end)

    it("reports an error in a listener on stderr with the renderer's name, file and line, and goes on", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
ipc.on("boom", function()
  error("kaboom")
end)
ipc.on("after", function()
  print("still running")
  ipc.send("done")
end)
ipc.send("echo", "boom")
ipc.send("echo", "after")
]] })
      local all = r.stdout .. r.stderr
      -- UI_HEAD is line 1, so error("kaboom") is on line 3.
      local found
      for _, l in ipairs(t.lines(r.stderr)) do
        if l:match("^%[ui%] .*ui%.lua:3: kaboom") then found = true end
      end
      assert(found, "no '[ui] ... ui.lua:3: kaboom' line on stderr:\n" .. all)
      assert.not_matches("kaboom", r.stdout, 1, true)
      assert_line(r.stdout, "[ui] still running", all)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("exits 1 on an error at the script's top level, and the host goes on", function()
      -- sh runs the failing renderer, reports its status, then runs a good
      -- renderer on the same channel: main hears from it after the failure.
      local r = ok_app({
        ["bad.lua"] = 'error("top-level boom")\n',
        ["after.lua"] = UI_HEAD .. 'ipc.send("done")\n',
      }, { { name = "ui", command = { "sh", "-c",
        '"$0" --renderer bad.lua; echo "bad exit $?"; exec "$0" --renderer after.lua', t.bin } } })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] bad exit 1", all)
      assert.matches("%[ui%] [^\n]*bad%.lua:1: top%-level boom", r.stderr)
      assert_line(r.stdout, "main: got done", all)
    end)

    it("exits with a failure status naming the file and line when the script does not compile, and the host goes on",
      function()
      local r = ok_app({
        ["bad.lua"] = "local x = = 1\n",
        ["after.lua"] = UI_HEAD .. 'ipc.send("done")\n',
      }, { { name = "ui", command = { "sh", "-c",
        '"$0" --renderer bad.lua; echo "bad exit $?"; exec "$0" --renderer after.lua', t.bin } } })
      local all = r.stdout .. r.stderr
      local status = tonumber(r.stdout:match("%[ui%] bad exit (%d+)\n"))
      assert(status and status ~= 0, "the renderer did not fail:\n" .. all)
      assert.matches("%[ui%] [^\n]*bad%.lua:1:", r.stderr)
      assert_line(r.stdout, "main: got done", all)
    end)
  end)

  describe("started through a wrapper command", function()
    -- docs/config.md, "Performance": workers started under SCHED_BATCH.
    it("runs under chrt -b 0 as a batch-scheduled process that invokes as usual", function()
      local r = ok_app({ ["ui.lua"] = UI_HEAD .. [[
        local f = assert(io.open("/proc/self/stat"))
        local stat = f:read("a")
        f:close()
        -- Field 41 is the policy (3: SCHED_BATCH); fields from 3 on follow "(comm) ".
        local fields = {}
        for w in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = w end
        print("policy " .. fields[41 - 2])
        print("sum " .. ipc.invoke("add", 2, 3))
        ipc.send("done")
      ]] }, { { name = "ui", command = { "chrt", "-b", "0", t.bin, "--renderer", "ui.lua" } } })
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] policy 3", all)
      assert_line(r.stdout, "[ui] sum 5", all)
      assert_line(r.stdout, "main: got done", all)
    end)
  end)
end)
