-- ipcMain end to end: every method on Electron's ipcMain page, with Node
-- EventEmitter semantics for listeners and Electron's handle/invoke rules,
-- each checked on a real host talking to a real renderer process.
local t = require("mainhost.test")

local S = require("support.app")
local run, assert_ok, said, line_of, count = S.run, S.assert_ok, S.said, S.line_of, S.count

describe("ipcMain listeners", function()
  after_each(function() t.cleanup() end)

  it("calls on and addListener listeners in registration order with the message's arguments, "
    .. "and a function added twice runs twice", function()
    local r = run([[
      local function a(event, x, y) say("a", x, y) end
      local function b(event, x, y) say("b", x, y) end
      ipcMain.on("go", a)
      ipcMain.addListener("go", b)
      ipcMain.on("go", a)
      quit_on("done")
    ]], [[
      ipc.send("go", 1, "two")
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "a 1 two", "b 1 two", "a 1 two" }, said(r, "main"))
  end)

  it("runs a once listener for the first message only, after it has already been removed", function()
    local r = run([[
      ipcMain.once("go", function(event, n)
        say("once", n, "listeners left", ipcMain.listenerCount("go"))
      end)
      quit_on("done")
    ]], [[
      ipc.send("go", 1)
      ipc.send("go", 2)
      ipc.send("go", 3)
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "once 1 listeners left 0" }, said(r, "main"))
  end)

  it("keeps a once listener registered until its own turn in an emit, as Node's once wrapper does", function()
    local r = run([[
      local function show(who, n) say(who, n, "count", ipcMain.listenerCount("x")) end
      ipcMain.on("x", function(event, n) show("before", n) end)
      ipcMain.once("x", function(event, n) show("once", n) end)
      ipcMain.on("x", function(event, n) show("after", n) end)
      quit_on("done")
    ]], [[
      ipc.send("x", 1)
      ipc.send("x", 2)
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({
      "before 1 count 3", "once 1 count 2", "after 1 count 2",
      "before 2 count 2", "after 2 count 2",
    }, said(r, "main"))
  end)

  it("makes off and removeListener remove only the most recently added registration of the function", function()
    local r = run([[
      local function f(event, ch) say("f", ch) end
      local function g(event, ch) say("g", ch) end
      ipcMain.on("x", f); ipcMain.on("x", g); ipcMain.on("x", f)
      ipcMain.off("x", f)
      ipcMain.on("y", f); ipcMain.on("y", g); ipcMain.on("y", f)
      ipcMain.removeListener("y", f)
      quit_on("done")
    ]], [[
      ipc.send("x", "x")
      ipc.send("y", "y")
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "f x", "g x", "f y", "g y" }, said(r, "main"))
  end)

  it("lets off remove a once listener before it fires, and ignores a function that was never added", function()
    local r = run([[
      local function f(event) say("once fired") end
      local function stranger() end
      ipcMain.once("x", f)
      ipcMain.off("x", f)
      ipcMain.on("y", function() say("y") end)
      ipcMain.off("y", stranger)
      ipcMain.off("never-registered", stranger)
      say("counts", ipcMain.listenerCount("x"), ipcMain.listenerCount("y"))
      quit_on("done")
    ]], [[
      ipc.send("x")
      ipc.send("y")
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "counts 0 1", "y" }, said(r, "main"))
  end)

  it("still runs a listener removed by an earlier listener during the same emit, but not on the next one", function()
    local r = run([[
      local function b(event, n) say("b", n) end
      ipcMain.on("x", function(event, n)
        say("a", n)
        ipcMain.off("x", b)
      end)
      ipcMain.on("x", b)
      quit_on("done")
    ]], [[
      ipc.send("x", 1)
      ipc.send("x", 2)
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "a 1", "b 1", "a 2" }, said(r, "main"))
  end)

  it("does not run a listener added during an emit until the next emit", function()
    local r = run([[
      local added = false
      ipcMain.on("x", function(event, n)
        say("a", n)
        if not added then
          added = true
          ipcMain.on("x", function(event, m) say("late", m) end)
        end
      end)
      quit_on("done")
    ]], [[
      ipc.send("x", 1)
      ipc.send("x", 2)
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "a 1", "a 2", "late 2" }, said(r, "main"))
  end)

  it("removeAllListeners(channel) removes every listener of that channel only and leaves its handler", function()
    local r = run([[
      ipcMain.on("x", function() say("x one") end)
      ipcMain.on("x", function() say("x two") end)
      ipcMain.on("y", function() say("y") end)
      ipcMain.handle("x", function() return "handler still here" end)
      assert(ipcMain.removeAllListeners("x") == ipcMain)
      say("names", table.concat(ipcMain.eventNames(), ","), "x count", ipcMain.listenerCount("x"))
      quit_on("done")
    ]], [[
      ipc.send("x")
      ipc.send("y")
      say(ipc.invoke("x"))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "names y x count 0", "y" }, said(r, "main"))
    assert.are.same({ "handler still here" }, said(r, "ui"))
  end)

  it("removeAllListeners() with no channel removes the listeners of every channel but no handler", function()
    local r = run([[
      ipcMain.on("x", function() say("x") end)
      ipcMain.on("y", function() say("y") end)
      ipcMain.once("z", function() say("z") end)
      ipcMain.handle("h", function() return "handler still here" end)
      ipcMain.removeAllListeners()
      say("names", #ipcMain.eventNames(), "counts",
        ipcMain.listenerCount("x"), ipcMain.listenerCount("y"), ipcMain.listenerCount("z"))
      quit_on("done")
    ]], [[
      ipc.send("x")
      ipc.send("y")
      ipc.send("z")
      say(ipc.invoke("h"))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "names 0 counts 0 0 0" }, said(r, "main"))
    assert.are.same({ "handler still here" }, said(r, "ui"))
  end)

  it("listenerCount counts a channel's listeners (duplicates and once listeners included, handlers not), "
    .. "or only one function's when given it", function()
    local r = run([[
      local function f() end
      say("unknown", ipcMain.listenerCount("x"))
      ipcMain.on("x", f)
      ipcMain.on("x", f)
      ipcMain.once("x", function() end)
      ipcMain.handle("x", f)
      ipcMain.handle("only-handler", f)
      say("x", ipcMain.listenerCount("x"), "of f", ipcMain.listenerCount("x", f),
        "only-handler", ipcMain.listenerCount("only-handler"))
      ipcMain.on("count", function() say("after the once fired", ipcMain.listenerCount("x")) end)
      quit_on("done")
    ]], [[
      ipc.send("x")
      ipc.send("count")
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "unknown 0", "x 3 of f 2 only-handler 0", "after the once fired 2" }, said(r, "main"))
  end)

  it("eventNames lists the channels that have listeners in the order they got their first one", function()
    local r = run([[
      local function f() end
      local function names() return table.concat(ipcMain.eventNames(), ",") end
      ipcMain.on("beta", f)
      ipcMain.on("alpha", f)
      ipcMain.on("gamma", f)
      ipcMain.on("alpha", f)
      ipcMain.handle("delta", f)
      say(names())
      ipcMain.off("beta", f)
      say(names())
      ipcMain.on("beta", f)
      say(names())
      quit_on("done")
    ]], [[
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "beta,alpha,gamma", "alpha,gamma", "alpha,gamma,beta" }, said(r, "main"))
  end)

  it("prependListener and prependOnceListener put a listener before the existing ones", function()
    local r = run([[
      ipcMain.on("x", function(event, n) say("on", n) end)
      ipcMain.prependListener("x", function(event, n) say("prepended", n) end)
      ipcMain.prependOnceListener("x", function(event, n) say("prepended once", n) end)
      quit_on("done")
    ]], [[
      ipc.send("x", 1)
      ipc.send("x", 2)
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "prepended once 1", "prepended 1", "on 1", "prepended 2", "on 2" }, said(r, "main"))
  end)

  it("returns ipcMain from every listener method, so calls chain in the dot and the colon form", function()
    local r = run([[
      local function f() end
      local results = {
        ipcMain.on("c", f), ipcMain.addListener("c", f), ipcMain.once("c", f),
        ipcMain.prependListener("c", f), ipcMain.prependOnceListener("c", f),
        ipcMain.off("c", f), ipcMain.removeListener("c", f),
        ipcMain.removeAllListeners("c"), ipcMain.removeAllListeners(),
        ipcMain:on("c", f), ipcMain:addListener("c", f), ipcMain:once("c", f),
        ipcMain:prependListener("c", f), ipcMain:prependOnceListener("c", f),
        ipcMain:off("c", f), ipcMain:removeListener("c", f),
        ipcMain:removeAllListeners("c"), ipcMain:removeAllListeners(),
      }
      local same = 0
      for _, v in ipairs(results) do if rawequal(v, ipcMain) then same = same + 1 end end
      say("returned ipcMain", same, "of", #results)
      ipcMain.on("x", function() say("dot 1") end).on("x", function() say("dot 2") end)
      ipcMain:on("x", function() say("colon 1") end):on("x", function() say("colon 2") end)
      quit_on("done")
    ]], [[
      ipc.send("x")
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "returned ipcMain 18 of 18", "dot 1", "dot 2", "colon 1", "colon 2" }, said(r, "main"))
  end)

  it("accepts the colon form for every method, with the same effect as the dot form", function()
    local r = run([[
      local function a(event, n) say("a", n) end
      ipcMain:on("x", a)
      ipcMain:addListener("x", function(event, n) say("b", n) end)
      ipcMain:once("x", function(event, n) say("c", n) end)
      ipcMain:prependListener("x", function(event, n) say("p", n) end)
      say("count", ipcMain:listenerCount("x"), "of a", ipcMain:listenerCount("x", a),
        "names", table.concat(ipcMain:eventNames(), ","))
      ipcMain:on("x2", a); ipcMain:off("x2", a)
      ipcMain:on("x3", a); ipcMain:removeListener("x3", a)
      ipcMain:on("x4", a); ipcMain:removeAllListeners("x4")
      ipcMain:handle("double", function(event, n) return n * 2 end)
      ipcMain:handleOnce("one-time", function() return "once" end)
      ipcMain:handle("gone", a); ipcMain:removeHandler("gone")
      quit_on("done")
    ]], [[
      ipc.send("x", 1)
      ipc.send("x", 2)
      ipc.send("x2", "x2"); ipc.send("x3", "x3"); ipc.send("x4", "x4")
      say("double", ipc.invoke("double", 21))
      say("one-time", ipc.invoke("one-time"))
      say(select(2, pcall(ipc.invoke, "one-time")))
      say(select(2, pcall(ipc.invoke, "gone")))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "count 4 of a 1 names x", "p 1", "a 1", "b 1", "c 1", "p 2", "a 2", "b 2" },
      said(r, "main"))
    assert.are.same({
      "double 42",
      "one-time once",
      "Error invoking remote method 'one-time': Error: No handler registered for 'one-time'",
      "Error invoking remote method 'gone': Error: No handler registered for 'gone'",
    }, said(r, "ui"))
  end)

  -- A snippet that prints what each call raises, as "main: <error>".
  local TRY = [[
    local function try(f)
      local ok, err = pcall(f)
      say(ok and "no error" or err)
    end
  ]]

  it("raises Lua-style 'bad argument' errors, naming the method and the argument, for bad arguments "
    .. "in the dot form", function()
    local r = run(TRY .. [[
      try(function() ipcMain.on("x", 42) end)
      try(function() ipcMain.on(nil, print) end)
      try(function() ipcMain.addListener("x", {}) end)
      try(function() ipcMain.once("x") end)
      try(function() ipcMain.prependListener(false, print) end)
      try(function() ipcMain.off("x", "not a function") end)
      try(function() ipcMain.removeListener({}, print) end)
      try(function() ipcMain.removeAllListeners({}) end)
      try(function() ipcMain.listenerCount() end)
      try(function() ipcMain.handle({}, print) end)
      try(function() ipcMain.removeHandler(nil) end)
      say("names", #ipcMain.eventNames())
      quit_on("done")
    ]], [[
      ipc.send("done")
    ]])
    assert_ok(r)
    local n = line_of(r.main, 'ipcMain.on("x", 42)')
    local function at(k, msg) return ("main.lua:%d: %s"):format(n + k, msg) end
    local got = said(r, "main")
    -- The position is the caller's line in main.lua, as luaL_argerror gives.
    for i = 1, #got - 1 do got[i] = got[i]:gsub("^.*/(main%.lua:)", "%1") end
    assert.are.same({
      at(0, "bad argument #2 to 'on' (function expected, got number)"),
      at(1, "bad argument #1 to 'on' (string expected, got nil)"),
      at(2, "bad argument #2 to 'addListener' (function expected, got table)"),
      at(3, "bad argument #2 to 'once' (function expected, got no value)"),
      at(4, "bad argument #1 to 'prependListener' (string expected, got boolean)"),
      at(5, "bad argument #2 to 'off' (function expected, got string)"),
      at(6, "bad argument #1 to 'removeListener' (string expected, got table)"),
      at(7, "bad argument #1 to 'removeAllListeners' (string expected, got table)"),
      at(8, "bad argument #1 to 'listenerCount' (string expected, got no value)"),
      at(9, "bad argument #1 to 'handle' (string expected, got table)"),
      at(10, "bad argument #1 to 'removeHandler' (string expected, got nil)"),
      "names 0",
    }, got)
  end)

  it("numbers the arguments of a colon call as Lua does for methods (self not counted) in "
    .. "'bad argument' errors", function()
    local r = run(TRY .. [[
      try(function() ipcMain:on("x", 42) end)
      try(function() ipcMain:on(nil, print) end)
      try(function() ipcMain:once("x") end)
      try(function() ipcMain:off("x", "not a function") end)
      try(function() ipcMain:listenerCount() end)
      try(function() ipcMain:handle({}, print) end)
      quit_on("done")
    ]], [[
      ipc.send("done")
    ]])
    assert_ok(r)
    local got = said(r, "main")
    for i = 1, #got do got[i] = got[i]:gsub("^.-main%.lua:%d+: ", "") end
    assert.are.same({
      "bad argument #2 to 'on' (function expected, got number)",
      "bad argument #1 to 'on' (string expected, got nil)",
      "bad argument #2 to 'once' (function expected, got no value)",
      "bad argument #2 to 'off' (function expected, got string)",
      "bad argument #1 to 'listenerCount' (string expected, got no value)",
      "bad argument #1 to 'handle' (string expected, got table)",
    }, got)
  end)
end)

describe("ipcMain handlers", function()
  after_each(function() t.cleanup() end)

  it("answers invoke with the handler's return value, the handler getting the invoke's arguments", function()
    local r = run([[
      ipcMain.handle("add", function(event, a, b) return a + b end)
      ipcMain.handle("shape", function(event, name) return { name = name, sides = { 1, 2, 3 } } end)
      quit_on("done")
    ]], [[
      say("add", ipc.invoke("add", 2, 3))
      local s = ipc.invoke("shape", "triangle")
      say("shape", s.name, #s.sides, s.sides[3])
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "add 5", "shape triangle 3 3" }, said(r, "ui"))
  end)

  it("gives the renderer's invoke all of a handler's return values, nil holes included", function()
    local r = run([[
      ipcMain.handle("multi", function() return 1, "two", nil, 4.5 end)
      quit_on("done")
    ]], [[
      local v = table.pack(ipc.invoke("multi"))
      say(v.n, v[1], v[2], v[3], v[4])
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "4 1 two nil 4.5" }, said(r, "ui"))
  end)

  it("handleOnce answers the first invoke only; the second fails with 'No handler registered'", function()
    local r = run([[
      ipcMain.handleOnce("once", function(event, n) return n + 1 end)
      quit_on("done")
    ]], [[
      say("first", ipc.invoke("once", 1))
      local ok, err = pcall(ipc.invoke, "once", 2)
      say(ok, err)
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({
      "first 2",
      "false Error invoking remote method 'once': Error: No handler registered for 'once'",
    }, said(r, "ui"))
  end)

  it("removes a handleOnce handler before calling it, so the handler may register a new one", function()
    local r = run([[
      ipcMain.handleOnce("x", function()
        local ok, err = pcall(ipcMain.handle, "x", function() return "second" end)
        say("re-registered", ok, err)
        return "first"
      end)
      quit_on("done")
    ]], [[
      say(ipc.invoke("x"))
      say(ipc.invoke("x"))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "re-registered true nil" }, said(r, "main"))
    assert.are.same({ "first", "second" }, said(r, "ui"))
  end)

  it("removeHandler makes later invokes fail with 'No handler registered', is silent for an unknown "
    .. "channel, and frees the channel for a new handler", function()
    local r = run([[
      ipcMain.handle("x", function() return "old" end)
      ipcMain.removeHandler("x")
      ipcMain.removeHandler("never-had-one")
      ipcMain.handle("y", function() return "old" end)
      ipcMain.removeHandler("y")
      ipcMain.handle("y", function() return "new" end)
      quit_on("done")
    ]], [[
      say(select(2, pcall(ipc.invoke, "x")))
      say(ipc.invoke("y"))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({
      "Error invoking remote method 'x': Error: No handler registered for 'x'",
      "new",
    }, said(r, "ui"))
  end)

  it("raises \"Attempted to register a second handler for 'x'\" on a second handle or handleOnce, "
    .. "checked before the handler's type, and keeps the first handler", function()
    local r = run([[
      ipcMain.handle("x", function() return "first" end)
      for _, call in ipairs({
        function() ipcMain.handle("x", function() return "second" end) end,
        function() ipcMain.handleOnce("x", function() return "second" end) end,
        function() ipcMain.handle("x", nil) end,
      }) do
        local ok, err = pcall(call)
        say(ok, (tostring(err):gsub("^.-main%.lua:%d+: ", "")))
      end
      quit_on("done")
    ]], [[
      say(ipc.invoke("x"))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({
      "false Attempted to register a second handler for 'x'",
      "false Attempted to register a second handler for 'x'",
      "false Attempted to register a second handler for 'x'",
    }, said(r, "main"))
    assert.are.same({ "first" }, said(r, "ui"))
  end)

  it("raises \"Expected handler to be a function, but found type 'nil'\" for a handler that is not "
    .. "a function, and registers nothing", function()
    local r = run([[
      for _, v in ipairs({ "nil", 42, "text" }) do
        if v == "nil" then v = nil end
        local ok, err = pcall(ipcMain.handle, "x", v)
        say(ok, (tostring(err):gsub("^.-main%.lua:%d+: ", "")))
      end
      quit_on("done")
    ]], [[
      say(select(2, pcall(ipc.invoke, "x")))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({
      "false Expected handler to be a function, but found type 'nil'",
      "false Expected handler to be a function, but found type 'number'",
      "false Expected handler to be a function, but found type 'string'",
    }, said(r, "main"))
    assert.are.same({ "Error invoking remote method 'x': Error: No handler registered for 'x'" }, said(r, "ui"))
  end)

  it("makes invoke on a channel without a handler raise exactly \"Error invoking remote method 'x': "
    .. "Error: No handler registered for 'x'\", and the host logs it and goes on", function()
    local r = run([[
      ipcMain.handle("after", function() return "still serving" end)
      quit_on("done")
    ]], [[
      local ok, err = pcall(ipc.invoke, "x", 1)
      say(ok, err)
      say(ipc.invoke("after"))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({
      "false Error invoking remote method 'x': Error: No handler registered for 'x'",
      "still serving",
    }, said(r, "ui"))
    assert.matches("Error occurred in handler for 'x': Error: No handler registered for 'x'", r.stderr, 1, true)
  end)

  it("sends an error raised in a handler to the renderer as \"Error: <message>\" without its position, "
    .. "and logs it in the host with the file and line", function()
    local r = run([[
      ipcMain.handle("x", function(event, n)
        if n == 1 then error("boom") end -- the failing line
        return "fine"
      end)
      quit_on("done")
    ]], [[
      local ok, err = pcall(ipc.invoke, "x", 1)
      say(ok, err)
      say(ipc.invoke("x", 2))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "false Error invoking remote method 'x': Error: boom", "fine" }, said(r, "ui"))
    local line = line_of(r.main, "the failing line")
    local log = r.stderr:match("Error occurred in handler for 'x'[^\n]*")
    assert.is_not_nil(log, r.stderr)
    assert.matches("main%.lua:" .. line .. ": boom", log)
  end)

  it("sends an error raised after a handler waited the same way: only its message, prefixed \"Error: \"",
    function()
    local r = run([[
      ipcMain.handle("x", function()
        mh.sleep(0)
        error("late boom")
      end)
      quit_on("done")
    ]], [[
      say(select(2, pcall(ipc.invoke, "x")))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "Error invoking remote method 'x': Error: late boom" }, said(r, "ui"))
    assert.matches("Error occurred in handler for 'x'", r.stderr, 1, true)
  end)

  it("lets a handler wait with mh.sleep and replies with what it returns when it is done", function()
    local r = run([[
      ipcMain.handle("slow", function(event, n)
        mh.sleep(5)
        local a = n + 1
        mh.sleep(0)
        return a, "after waiting"
      end)
      quit_on("done")
    ]], [[
      say(ipc.invoke("slow", 41))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "42 after waiting" }, said(r, "ui"))
  end)

  it("lets a handler suspend with a plain coroutine.yield() resumed later by a luv timer, "
    .. "and replies when it returns", function()
    local r = run([[
      ipcMain.handle("wait", function(event, text)
        local co = coroutine.running()
        local timer = uv.new_timer()
        timer:start(0, 0, function()
          timer:close()
          assert(coroutine.resume(co, "resumed"))
        end)
        local got = coroutine.yield()
        return text .. " " .. got
      end)
      quit_on("done")
    ]], [[
      say(ipc.invoke("wait", "handler"))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "handler resumed" }, said(r, "ui"))
  end)

  it("answers 'reply was never sent' when a handler's suspended coroutine is dropped and collected", function()
    local r = run([[
      ipcMain.handle("lost", function()
        coroutine.yield() -- nobody keeps this coroutine: it can never return
        return "unreachable"
      end)
      ipcMain.on("collect", function()
        local timer = uv.new_timer()
        timer:start(0, 0, function()
          timer:close()
          collectgarbage()
          collectgarbage()
        end)
      end)
      quit_on("done")
    ]], [[
      coroutine.wrap(function()
        local ok, err = pcall(ipc.invoke, "lost")
        say(ok, err)
        ipc.send("done")
      end)()
      ipc.send("collect")
    ]])
    assert_ok(r)
    assert.are.same({ "false Error invoking remote method 'lost': reply was never sent" }, said(r, "ui"))
  end)

  it("lets an invoke already in flight finish after removeHandler, while later invokes find no handler",
    function()
    local r = run([[
      local parked
      ipcMain.handle("slow", function()
        parked = coroutine.running()
        return "in flight, " .. coroutine.yield()
      end)
      ipcMain.on("remove", function()
        ipcMain.removeHandler("slow")
        assert(coroutine.resume(parked, "answered"))
      end)
      quit_on("done")
    ]], [[
      coroutine.wrap(function()
        say(ipc.invoke("slow"))
        say(select(2, pcall(ipc.invoke, "slow")))
        ipc.send("done")
      end)()
      ipc.send("remove")
    ]])
    assert_ok(r)
    assert.are.same({
      "in flight, answered",
      "Error invoking remote method 'slow': Error: No handler registered for 'slow'",
    }, said(r, "ui"))
  end)

  it("does not hold up other invokes while a handler waits: a later invoke can be answered first", function()
    local r = run([[
      local parked
      ipcMain.handle("first", function()
        parked = coroutine.running()
        coroutine.yield()
        return "first"
      end)
      ipcMain.handle("second", function()
        local co = parked
        local timer = uv.new_timer()
        timer:start(0, 0, function()
          timer:close()
          assert(coroutine.resume(co))
        end)
        return "second"
      end)
      quit_on("done")
    ]], [[
      local n = 0
      local function got(v)
        say(v)
        n = n + 1
        if n == 2 then ipc.send("done") end
      end
      coroutine.wrap(function() got(ipc.invoke("first")) end)()
      coroutine.wrap(function() got(ipc.invoke("second")) end)()
    ]])
    assert_ok(r)
    assert.are.same({ "second", "first" }, said(r, "ui"))
  end)

  it("keeps handlers and listeners apart: send and sendSync reach only on() listeners, invoke only "
    .. "the handler", function()
    local r = run([[
      ipcMain.on("x", function(event, how)
        say("listener", how)
        if how == "sendSync" then event.returnValue = "from the listener" end
      end)
      ipcMain.handle("x", function(event, how)
        say("handler", how)
        return "from the handler"
      end)
      ipcMain.on("only-listener", function(event, how) say("only-listener", how) end)
      ipcMain.handle("only-handler", function(event, how) say("only-handler", how) end)
      quit_on("done")
    ]], [[
      ipc.send("x", "send")
      say(ipc.invoke("x", "invoke"))
      say(ipc.sendSync("x", "sendSync"))
      say(select(2, pcall(ipc.invoke, "only-listener", "invoke")))
      ipc.send("only-handler", "send")
      ipc.send("only-listener", "send")
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "listener send", "handler invoke", "listener sendSync", "only-listener send" },
      said(r, "main"))
    assert.are.same({
      "from the handler",
      "from the listener",
      "Error invoking remote method 'only-listener': Error: No handler registered for 'only-listener'",
    }, said(r, "ui"))
  end)
end)
