-- The event object a listener or handler gets, sendSync and returnValue,
-- webContents, listener errors and message ordering, each checked on a real
-- host talking to real renderer processes.
local t = require("mainhost.test")

local S = require("support.app")
local run, assert_ok, said, line_of, count = S.run, S.assert_ok, S.said, S.line_of, S.count

local sorted = S.sorted

describe("the event object", function()
  after_each(function() t.cleanup() end)

  it("has the sending renderer's webContents as event.sender, with that renderer's id", function()
    local hello = [[
      say("my id", R.id)
      ipc.send("hello", R.id)
    ]]
    local r = run([[
      local seen = 0
      ipcMain.on("hello", function(event, own_id)
        local s = event.sender
        say(own_id, "sender.id matches", s.id == own_id,
          "fromId gives the sender", rawequal(mh.webContents.fromId(s.id), s))
        seen = seen + 1
        if seen == 2 then mh.app.quit() end
      end)
    ]], { { "one", hello }, { "two", hello } })
    assert_ok(r)
    assert.are.same({
      "1 sender.id matches true fromId gives the sender true",
      "2 sender.id matches true fromId gives the sender true",
    }, sorted(said(r, "main")))
    assert.are_not.same(said(r, "one"), said(r, "two"))
  end)

  it("lets event.sender.send push to the renderer that sent, in the dot and the colon form", function()
    local r = run([[
      ipcMain.on("ask", function(event)
        event.sender.send("answer", "dot", 1, { k = "v" })
        event.sender:send("answer", "colon", 2)
      end)
      quit_on("done")
    ]], [[
      ipc.on("answer", function(event, how, n, tbl)
        say("answer", how, n, tbl and tbl.k)
        if n == 2 then ipc.send("done") end
      end)
      ipc.send("ask")
    ]])
    assert_ok(r)
    assert.are.same({ "answer dot 1 v", "answer colon 2 nil" }, said(r, "ui"))
  end)

  it("carries the renderer's pid as an integer event.processId and the sending frame's id as "
    .. "event.frameId (1 for the main frame) on send, sendSync and invoke events", function()
    local r = run([[
      local function show(event, frame, kind)
        say(frame, kind, "processId", event.processId, math.type(event.processId), "frameId", event.frameId)
      end
      ipcMain.on("who", function(event, frame, kind)
        show(event, frame, kind)
        if kind == "sendSync" then event.returnValue = true end
      end)
      ipcMain.handle("who", function(event, frame, kind) show(event, frame, kind) end)
      quit_on("done")
    ]], [[
      local sub = R.openFrame()
      say(("%d"):format(uv.os_getpid()), sub.id)
      for _, f in ipairs({ { "main", ipc }, { "sub", sub.ipcRenderer } }) do
        f[2].send("who", f[1], "send")
        f[2].sendSync("who", f[1], "sendSync")
        f[2].invoke("who", f[1], "invoke")
      end
      ipc.send("done")
    ]])
    assert_ok(r)
    local pid, sub = (said(r, "ui")[1] or ""):match("^(%d+) (%d+)$")
    assert.is_not_nil(pid, r.stdout)
    assert.are_not.equal("1", sub)
    local function line(frame, kind, id)
      return ("%s %s processId %s integer frameId %s"):format(frame, kind, pid, id)
    end
    assert.are.same({
      line("main", "send", 1), line("main", "sendSync", 1), line("main", "invoke", 1),
      line("sub", "send", sub), line("sub", "sendSync", sub), line("sub", "invoke", sub),
    }, said(r, "main"))
  end)

  it("describes the sending frame as event.senderFrame, whose send reaches that frame only", function()
    local r = run([[
      ipcMain.on("where", function(event)
        local f = event.senderFrame
        say("frame", event.frameId, "routingId", f.routingId, "processId matches", f.processId == event.processId)
        f.send("hi", "via the senderFrame of frame " .. event.frameId)
        if event.frameId ~= 1 then event.sender.send("fin") end
      end)
      quit_on("done")
    ]], [[
      local sub = R.openFrame()
      sub.ipcRenderer.on("hi", function(event, text) say("sub frame got", text) end)
      ipc.on("hi", function(event, text) say("main frame got", text) end)
      ipc.on("fin", function() ipc.send("done") end)
      ipc.send("where")
      sub.ipcRenderer.send("where")
    ]])
    assert_ok(r)
    assert.are.same({
      "frame 1 routingId 1 processId matches true",
      "frame 2 routingId 2 processId matches true",
    }, said(r, "main"))
    assert.are.same({
      "main frame got via the senderFrame of frame 1",
      "sub frame got via the senderFrame of frame 2",
    }, said(r, "ui"))
  end)

  it("sends event.reply to the frame that sent the message, while event.sender.send reaches the "
    .. "main frame only", function()
    local r = run([[
      ipcMain.on("ping", function(event)
        event.reply("r", "reply to frame " .. event.frameId)
        event.sender.send("r", "pushed")
      end)
      quit_on("done")
    ]], [[
      local sub = R.openFrame()
      local pushes = 0
      sub.ipcRenderer.on("r", function(event, text) say("sub frame got", text) end)
      ipc.on("r", function(event, text)
        say("main frame got", text)
        if text == "pushed" then
          pushes = pushes + 1
          if pushes == 2 then ipc.send("done") end
        end
      end)
      ipc.send("ping")
      sub.ipcRenderer.send("ping")
    ]])
    assert_ok(r)
    assert.are.same({
      "main frame got reply to frame 1",
      "main frame got pushed",
      "sub frame got reply to frame 2",
      "main frame got pushed",
    }, said(r, "ui"))
  end)

  it("accepts event.reply and event.senderFrame.send in the colon form too", function()
    local r = run([[
      ipcMain.on("ping", function(event)
        event:reply("r", "colon reply")
        event.senderFrame:send("r", "colon frame send")
      end)
      -- A separate listener, so the app ends even if the one above raises.
      ipcMain.on("ping", function(event) event.sender.send("fin") end)
      quit_on("done")
    ]], [[
      local sub = R.openFrame()
      sub.ipcRenderer.on("r", function(event, text) say("sub frame got", text) end)
      ipc.on("fin", function() ipc.send("done") end)
      sub.ipcRenderer.send("ping")
    ]])
    assert_ok(r)
    assert.are.same({ "sub frame got colon reply", "sub frame got colon frame send" }, said(r, "ui"))
  end)

  it("gives an invoke event sender, processId, frameId and senderFrame but no reply", function()
    local r = run([[
      ipcMain.handle("inspect", function(event, pid)
        return event.sender.id, event.processId == pid, event.frameId, event.senderFrame.routingId,
          event.reply == nil
      end)
      quit_on("done")
    ]], [[
      local pid = math.tointeger(uv.os_getpid())
      local id, pid_ok, frame, routing, no_reply = ipc.invoke("inspect", pid)
      say("sender is me", id == R.id, "processId", pid_ok, "frameId", frame, "senderFrame", routing,
        "no reply", no_reply)
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "sender is me true processId true frameId 1 senderFrame 1 no reply true" }, said(r, "ui"))
  end)
end)

describe("sendSync and event.returnValue", function()
  after_each(function() t.cleanup() end)

  it("answers the blocked renderer with the value a listener assigns to event.returnValue, nil included",
    function()
    local r = run([[
      ipcMain.on("double", function(event, n) event.returnValue = n * 2 end)
      ipcMain.on("table", function(event) event.returnValue = { name = "t", list = { 1, 2, 3 } } end)
      ipcMain.on("nil", function(event) event.returnValue = nil end)
      quit_on("done")
    ]], [[
      say("double", ipc.sendSync("double", 21))
      local v = ipc.sendSync("table")
      say("table", v.name, #v.list)
      say("nil", (ipc.sendSync("nil")))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "double 42", "table t 3", "nil nil" }, said(r, "ui"))
  end)

  it("answers the renderer when event.returnValue is set later, from a luv timer, after the listener "
    .. "returned", function()
    local r = run([[
      ipcMain.on("later", function(event, n)
        local timer = uv.new_timer()
        timer:start(0, 0, function()
          timer:close()
          say("timer sets returnValue")
          event.returnValue = n * 2
        end)
        say("listener returned")
      end)
      quit_on("done")
    ]], [[
      say(ipc.sendSync("later", 21))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "listener returned", "timer sets returnValue" }, said(r, "main"))
    assert.are.same({ "42" }, said(r, "ui"))
  end)

  it("serves other renderers while one is blocked in sendSync", function()
    local r = run([[
      local blocked
      ipcMain.on("block", function(event)
        blocked = event
        for _, wc in ipairs(mh.webContents.getAllWebContents()) do
          if wc.id ~= event.sender.id then wc.send("your-turn") end
        end
      end)
      ipcMain.handle("serve", function()
        say("serving b while a waits")
        blocked.returnValue = "released after b was served"
        return "served"
      end)
      quit_after(2)
    ]], {
      { "a", [[
        say(ipc.sendSync("block"))
        ipc.send("done")
      ]] },
      { "b", [[
        ipc.on("your-turn", function()
          say(ipc.invoke("serve"))
          ipc.send("done")
        end)
      ]] },
    })
    assert_ok(r)
    assert.are.same({ "serving b while a waits" }, said(r, "main"))
    assert.are.same({ "released after b was served" }, said(r, "a"))
    assert.are.same({ "served" }, said(r, "b"))
  end)

  it("keeps the first returnValue when two listeners set it, and the second listener runs without error",
    function()
    local r = run([[
      ipcMain.on("x", function(event, n) event.returnValue = "first " .. n end)
      ipcMain.on("x", function(event, n)
        local ok, err = pcall(function() event.returnValue = "second " .. n end)
        say("second listener ran", n, ok, err)
      end)
      quit_on("done")
    ]], [[
      say(ipc.sendSync("x", 1))
      say(ipc.sendSync("x", 2))
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "second listener ran 1 true nil", "second listener ran 2 true nil" }, said(r, "main"))
    assert.are.same({ "first 1", "first 2" }, said(r, "ui"))
  end)

  it("warns \"called ipcRenderer.sendSync() with 'x' channel without listeners\" and makes the "
    .. "renderer's sendSync raise instead of hanging, even when the channel has a handler", function()
    local r = run([[
      ipcMain.handle("x", function() return "handlers do not count" end)
      ipcMain.on("after", function(event, text) say(text) end)
      quit_on("done")
    ]], [[
      local ok, err = pcall(ipc.sendSync, "x", 1)
      say("raised", not ok, type(err) == "string" and err:find("'x'", 1, true) ~= nil)
      ipc.send("after", "the host goes on")
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "raised true true" }, said(r, "ui"))
    assert.are.same({ "the host goes on" }, said(r, "main"))
    assert.matches("WebContents #1 called ipcRenderer.sendSync() with 'x' channel without listeners.",
      r.stderr, 1, true)
  end)
end)

describe("webContents", function()
  after_each(function() t.cleanup() end)

  local READY = [[
    ipc.send("ready", R.name)
    ipc.on("push", function(event, how, n, tbl) say("push", how, n, tbl and tbl.k) end)
    ipc.on("fin", function() ipc.send("done") end)
  ]]

  it("getAllWebContents lists every renderer once and fromId(id) returns the same object as "
    .. "event.sender (nil for an unknown id)", function()
    local r = run([[
      local ready = {}
      ipcMain.on("ready", function(event)
        ready[#ready + 1] = event.sender
        if #ready < 2 then return end
        table.sort(ready, function(x, y) return x.id < y.id end)
        local all = mh.webContents.getAllWebContents()
        local ids = {}
        for i, wc in ipairs(all) do ids[i] = wc.id end
        table.sort(ids)
        say("all", #all, table.concat(ids, ","))
        for _, s in ipairs(ready) do
          local listed = false
          for _, wc in ipairs(all) do listed = listed or rawequal(wc, s) end
          say("sender", s.id, "listed", listed, "fromId", rawequal(mh.webContents.fromId(s.id), s))
        end
        say("unknown id", (mh.webContents.fromId(999)))
        mh.app.quit()
      end)
    ]], { { "one", READY }, { "two", READY } })
    assert_ok(r)
    assert.are.same({
      "all 2 1,2",
      "sender 1 listed true fromId true",
      "sender 2 listed true fromId true",
      "unknown id nil",
    }, said(r, "main"))
  end)

  it("wc.send(channel, ...) reaches that renderer's ipcRenderer listeners with the arguments, "
    .. "and no other renderer", function()
    local r = run([[
      local ids, n = {}, 0
      ipcMain.on("ready", function(event, name)
        ids[name] = event.sender.id
        n = n + 1
        if n < 2 then return end
        local wc = mh.webContents.fromId(ids.two)
        wc.send("push", "dot", 1, { k = "v" })
        wc:send("push", "colon", 2)
        for _, w in ipairs(mh.webContents.getAllWebContents()) do w.send("fin") end
      end)
      quit_after(2)
    ]], { { "one", READY }, { "two", READY } })
    assert_ok(r)
    assert.are.same({ "push dot 1 v", "push colon 2 nil" }, said(r, "two"))
    assert.are.same({}, said(r, "one"))
  end)
end)

describe("listener errors", function()
  after_each(function() t.cleanup() end)

  it("reports an error in one listener once on stderr with its file and line, runs the other "
    .. "listeners, and goes on", function()
    local r = run([[
      ipcMain.on("x", function(event, n) say("first", n) end)
      ipcMain.on("x", function(event, n) error("kaboom " .. n) end) -- the failing listener
      ipcMain.on("x", function(event, n) say("third", n) end)
      quit_on("done")
    ]], [[
      ipc.send("x", 1)
      ipc.send("x", 2)
      ipc.send("done")
    ]])
    assert_ok(r)
    assert.are.same({ "first 1", "third 1", "first 2", "third 2" }, said(r, "main"))
    local line = line_of(r.main, "the failing listener")
    for n = 1, 2 do
      assert.are.equal(1, count(r.stderr, "kaboom " .. n), r.stderr)
      assert.are.equal(1, count(r.stderr, ("main.lua:%d: kaboom %d"):format(line, n)), r.stderr)
    end
  end)
end)

describe("ordering", function()
  after_each(function() t.cleanup() end)

  -- A fixed mix of the three kinds, with runs of each.
  local KINDS = { "send", "sendSync", "invoke" }
  local function kind(i) return KINDS[(i * i + i // 4) % 3 + 1] end

  it("delivers 200 mixed send, sendSync and invoke messages from one renderer in the order sent", function()
    local r = run([[
      ipcMain.on("m", function(event, k, i)
        say(k, i)
        if k == "sendSync" then event.returnValue = i end
      end)
      ipcMain.handle("m", function(event, k, i)
        say(k, i)
        return i
      end)
      quit_on("done")
    ]], [[
      local KINDS = { "send", "sendSync", "invoke" }
      local function kind(i) return KINDS[(i * i + i // 4) % 3 + 1] end
      local waiting, sent_all, bad = 0, false, 0
      local function maybe_done()
        if sent_all and waiting == 0 then
          say("replies matched", bad == 0)
          ipc.send("done")
        end
      end
      for i = 1, 200 do
        local k = kind(i)
        if k == "send" then
          ipc.send("m", k, i)
        elseif k == "sendSync" then
          if ipc.sendSync("m", k, i) ~= i then bad = bad + 1 end
        else
          waiting = waiting + 1
          coroutine.wrap(function() -- not awaited: the next message goes out at once
            if ipc.invoke("m", k, i) ~= i then bad = bad + 1 end
            waiting = waiting - 1
            maybe_done()
          end)()
        end
      end
      sent_all = true
      maybe_done()
    ]])
    assert_ok(r)
    local expected, kinds = {}, {}
    for i = 1, 200 do
      expected[i] = kind(i) .. " " .. i
      kinds[kind(i)] = true
    end
    assert.is_true(kinds.send and kinds.sendSync and kinds.invoke)
    assert.are.same(expected, said(r, "main"))
    assert.are.same({ "replies matched true" }, said(r, "ui"))
  end)
end)
