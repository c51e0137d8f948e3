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

describe("each message's event", function()
  after_each(function() t.cleanup() end)

  -- Lines `who` printed that start with prefix (prefix removed), in order.
  local function said_with(r, who, prefix)
    local out = {}
    for _, l in ipairs(said(r, who)) do
      if l:sub(1, #prefix) == prefix then out[#out + 1] = l:sub(#prefix + 1) end
    end
    return out
  end

  it("keeps what a listener sets on one event (fields, returnValue, overridden sender, processId, frameId "
    .. "and reply) off the next events of that renderer and of other renderers, while the other listeners "
    .. "of the same message see it", function()
    local ui = [[
      local pid = math.tointeger(uv.os_getpid())
      local sub = R.openFrame()
      for i = 1, 3 do
        ipc.send("mark", R.name, "send", i, pid)
        say("sendSync", ipc.sendSync("mark", R.name, "sendSync", i, pid))
        say("invoke", ipc.invoke("mark", R.name, "invoke", i, pid))
        sub.ipcRenderer.send("mark", R.name, "subSend", i, pid)
        say("subSendSync", sub.ipcRenderer.sendSync("mark", R.name, "subSendSync", i, pid))
      end
      ipc.send("done")
    ]]
    local r = run([[
      local function check(event, name, kind, i, pid)
        local s = event.sender
        say(name, kind, i, "sender", type(s) == "table" and s.name or tostring(s), "foo", tostring(event.foo),
          "frameId", tostring(event.frameId), "processId ok", tostring(event.processId == pid),
          "reply", type(event.reply), "returnValue", tostring(event.returnValue))
        event.foo = name .. "-" .. kind .. "-" .. i
        event.sender = "not a webContents"
        event.processId = -1
        event.frameId = 99
        event.reply = "not a function"
      end
      ipcMain.on("mark", function(event, name, kind, i, pid)
        check(event, name, kind, i, pid)
        if kind == "sendSync" or kind == "subSendSync" then
          event.returnValue = name .. " " .. i
          say(name, kind, i, "returnValue reads", tostring(event.returnValue))
        end
      end)
      ipcMain.on("mark", function(event, name, kind, i)
        say(name, kind, i, "second listener: foo", event.foo, "frameId", event.frameId, "sender", event.sender)
      end)
      ipcMain.handle("mark", function(event, name, kind, i, pid)
        check(event, name, kind, i, pid)
        return name .. " " .. i
      end)
      quit_after(2)
    ]], { { "a", ui }, { "b", ui } })
    assert_ok(r)
    for _, name in ipairs({ "a", "b" }) do
      local expected, replies = {}, {}
      local function add(kind, i, frame, reply)
        local head = ("%s %d "):format(kind, i)
        expected[#expected + 1] = head .. ("sender %s foo nil frameId %d processId ok true reply %s returnValue nil")
          :format(name, frame, reply)
        if kind ~= "invoke" then
          if kind == "sendSync" or kind == "subSendSync" then
            expected[#expected + 1] = head .. "returnValue reads nil"
          end
          expected[#expected + 1] = head .. ("second listener: foo %s-%s-%d frameId 99 sender not a webContents")
            :format(name, kind, i)
        end
      end
      for i = 1, 3 do
        add("send", i, 1, "function")
        add("sendSync", i, 1, "function")
        add("invoke", i, 1, "nil")
        add("subSend", i, 2, "function")
        add("subSendSync", i, 2, "function")
        for _, k in ipairs({ "sendSync", "invoke", "subSendSync" }) do
          replies[#replies + 1] = ("%s %s %d"):format(k, name, i)
        end
      end
      assert.are.same(expected, said_with(r, "main", name .. " "), r.stdout .. r.stderr)
      assert.are.same(replies, said(r, name))
    end
  end)

  it("gives each of two renderers sending on the same channel its own sender, processId and reply, "
    .. "also when their send, sendSync and invoke events are alive at the same time", function()
    -- Main holds each message until the other renderer's has arrived, then
    -- answers both, the later one first: the events of a and b interleave.
    local ui = [[
      local pid = math.tointeger(uv.os_getpid())
      local bad = {}
      local function check(what, i, name, p)
        if name ~= R.name or p ~= pid then
          bad[#bad + 1] = ("%s %d went to %s/%s"):format(what, i, tostring(name), tostring(p))
        end
      end
      local pongs = 0
      ipc.on("pong", function(event, name, p, i)
        pongs = pongs + 1
        check("reply", i, name, p)
        local n2, p2, no_reply = ipc.invoke("who", i)
        check("invoke", i, n2, p2)
        if not no_reply then bad[#bad + 1] = "invoke event had a reply" end
        local v = ipc.sendSync("who", i)
        check("sendSync", i, v[1], v[2])
        if v[3] ~= "function" then bad[#bad + 1] = "sendSync event had no reply" end
        if i < 6 then
          ipc.send("ping", i + 1)
        else
          say("pongs", pongs, "wrong:", #bad == 0 and "none" or table.concat(bad, "; "))
          ipc.send("done")
        end
      end)
      ipc.send("ping", 1)
    ]]
    local r = run([[
      local held, parked, synced = {}, {}, {}
      local function pair(list)
        local names = {}
        for k, e in ipairs(list) do names[k] = e.sender.name end
        table.sort(names)
        return table.concat(names, " ")
      end
      ipcMain.on("ping", function(event, i)
        held[#held + 1] = event
        if #held < 2 then return end
        local list = held
        held = {}
        say("round", i, "send", pair(list))
        for k = #list, 1, -1 do
          local e = list[k]
          e.reply("pong", e.sender.name, e.processId, i)
        end
      end)
      ipcMain.handle("who", function(event, i)
        parked[#parked + 1] = coroutine.running()
        if #parked == 2 then
          local list = parked
          parked = {}
          say("round", i, "invoke", "both in flight")
          assert(coroutine.resume(list[1])) -- the first one answers while this one is still running
        else
          coroutine.yield()
        end
        return event.sender.name, event.processId, event.reply == nil
      end)
      ipcMain.on("who", function(event, i)
        synced[#synced + 1] = event
        if #synced < 2 then return end
        local list = synced
        synced = {}
        say("round", i, "sendSync", pair(list))
        for k = #list, 1, -1 do
          local e = list[k]
          e.returnValue = { e.sender.name, e.processId, type(e.reply) }
        end
      end)
      quit_after(2)
    ]], { { "a", ui }, { "b", ui } })
    assert_ok(r)
    local expected = {}
    for i = 1, 6 do
      expected[#expected + 1] = ("round %d send a b"):format(i)
      expected[#expected + 1] = ("round %d invoke both in flight"):format(i)
      expected[#expected + 1] = ("round %d sendSync a b"):format(i)
    end
    assert.are.same(expected, said(r, "main"), r.stdout .. r.stderr)
    assert.are.same({ "pongs 6 wrong: none" }, said(r, "a"))
    assert.are.same({ "pongs 6 wrong: none" }, said(r, "b"))
  end)

  it("gives main-frame and sub-frame messages that interleave the right event.frameId, and sends each "
    .. "event.reply to its own frame, also when replying after later messages arrived", function()
    local r = run([[
      local held = {}
      local function show(kind, event, claimed, i)
        say(kind, i, "frameId", event.frameId, "claimed", claimed)
      end
      ipcMain.on("m", function(event, kind, claimed, i)
        show(kind, event, claimed, i)
        event.reply("r", "now", event.frameId, i)
        held[#held + 1] = { event, i }
        if kind == "sendSync" then event.returnValue = event.frameId end
      end)
      ipcMain.handle("m", function(event, kind, claimed, i)
        show(kind, event, claimed, i)
        return event.frameId
      end)
      ipcMain.on("flush", function(event)
        for k = #held, 1, -1 do
          local e, i = held[k][1], held[k][2]
          e.reply("r", "later", e.frameId, i)
        end
        event.reply("fin")
      end)
      quit_on("done")
    ]], [[
      local f2, f3 = R.openFrame(), R.openFrame()
      local frames = { { 1, ipc }, { f2.id, f2.ipcRenderer }, { f3.id, f3.ipcRenderer } }
      say("frames", f2.id, f3.id)
      for _, f in ipairs(frames) do
        f[2].on("r", function(event, when, to, i)
          say("frame", f[1], "got", when, "reply for frame", to, "message", i)
        end)
      end
      ipc.on("fin", function() ipc.send("done") end)
      local order = { 1, 2, 1, 3, 3, 1, 2, 2, 1, 3 }
      local wrong = 0
      for i, k in ipairs(order) do
        local id, fipc = frames[k][1], frames[k][2]
        fipc.send("m", "send", id, i)
        if fipc.sendSync("m", "sendSync", id, i) ~= id then wrong = wrong + 1 end
        if fipc.invoke("m", "invoke", id, i) ~= id then wrong = wrong + 1 end
      end
      say("wrong answers", wrong)
      ipc.send("flush")
    ]])
    assert_ok(r)
    local ui = said(r, "ui")
    assert.are.same("frames 2 3", ui[1], r.stdout .. r.stderr)
    local order = { 1, 2, 1, 3, 3, 1, 2, 2, 1, 3 }
    local main, now, later = {}, {}, {}
    for i, f in ipairs(order) do
      for _, kind in ipairs({ "send", "sendSync", "invoke" }) do
        main[#main + 1] = ("%s %d frameId %d claimed %d"):format(kind, i, f, f)
      end
      for _ = 1, 2 do -- send and sendSync both reply
        now[#now + 1] = ("frame %d got now reply for frame %d message %d"):format(f, f, i)
      end
    end
    for i = #order, 1, -1 do
      for _ = 1, 2 do
        later[#later + 1] = ("frame %d got later reply for frame %d message %d"):format(order[i], order[i], i)
      end
    end
    assert.are.same(main, said(r, "main"))
    local got_now, got_later, rest = {}, {}, {}
    for k = 2, #ui do
      local l = ui[k]
      if l:find(" got now ", 1, true) then
        got_now[#got_now + 1] = l
      elseif l:find(" got later ", 1, true) then
        got_later[#got_later + 1] = l
      else
        rest[#rest + 1] = l
      end
    end
    assert.are.same(sorted(now), sorted(got_now))
    assert.are.same(later, got_later)
    assert.are.same({ "wrong answers 0" }, rest)
  end)

  it("is a new table for each message, whose tostring starts with mainhost.IpcMainEvent, "
    .. "mainhost.IpcMainSyncEvent or mainhost.IpcMainInvokeEvent, and an invoke event has no reply even "
    .. "after send and sendSync events of the same renderer used theirs", function()
    local r = run([[
      local last = {}
      local function show(kind, event, frame)
        local s = tostring(event)
        local key = kind .. frame
        local prev = last[key]
        last[key] = event
        say(kind, frame, s:match("^(.-): ") or s, "new", tostring(prev == nil or (not rawequal(prev, event)
          and tostring(prev) ~= s)), "reply", type(event.reply))
      end
      ipcMain.on("k", function(event, kind, frame)
        show(kind, event, frame)
        event.reply("r", kind)
        if kind == "sendSync" then event.returnValue = kind end
      end)
      ipcMain.handle("k", function(event, kind, frame)
        show(kind, event, frame)
        return kind
      end)
      quit_on("done")
    ]], [[
      local sub = R.openFrame()
      local got = {}
      ipc.on("r", function(event, kind) got[#got + 1] = kind end)
      sub.ipcRenderer.on("r", function(event, kind) got[#got + 1] = "sub " .. kind end)
      for _ = 1, 2 do
        for _, f in ipairs({ { "main", ipc }, { "sub", sub.ipcRenderer } }) do
          f[2].send("k", "send", f[1])
          say(f[2].sendSync("k", "sendSync", f[1]), f[2].invoke("k", "invoke", f[1]))
        end
      end
      ipc.invoke("k", "invoke", "main") -- an invoke right after a sendSync and an invoke
      say("replies", #got)
      ipc.send("done")
    ]])
    assert_ok(r)
    local expected = {}
    for _ = 1, 2 do
      for _, f in ipairs({ "main", "sub" }) do
        expected[#expected + 1] = ("send %s mainhost.IpcMainEvent new true reply function"):format(f)
        expected[#expected + 1] = ("sendSync %s mainhost.IpcMainSyncEvent new true reply function"):format(f)
        expected[#expected + 1] = ("invoke %s mainhost.IpcMainInvokeEvent new true reply nil"):format(f)
      end
    end
    expected[#expected + 1] = "invoke main mainhost.IpcMainInvokeEvent new true reply nil"
    assert.are.same(expected, said(r, "main"))
    assert.are.same({ "sendSync invoke", "sendSync invoke", "sendSync invoke", "sendSync invoke", "replies 8" },
      said(r, "ui"))
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
