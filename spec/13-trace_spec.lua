-- Tracing end to end: `mainhost --trace[=FILE] APP` on real hosts with real
-- renderers (Lua scripts, and sh renderers that write exact protocol lines),
-- mainhost.trace() from the main script (real processes and the test host),
-- and `mainhost stats TRACE` on real and hand-written traces.
--
-- No sleeps and no timings: apps end by themselves (app.quit, or their only
-- renderer exiting) and the timeouts only guard against hangs.
local t = require("mainhost.test")
local mh = require("mainhost")
local json = mh.json

local FIELDS = { "time", "dir", "renderer", "name", "frame", "kind", "bytes" }

-- The records of a trace (text), in order; raises on a line that is not JSON.
local function records(text)
  local out = {}
  for _, l in ipairs(t.lines(text)) do
    local rec, err = json.decode(l)
    assert(type(rec) == "table", ("not a trace record: %s (%s)"):format(l, tostring(err)))
    out[#out + 1] = rec
  end
  return out
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function trace_of(path) return records(assert(read(path), "no trace file at " .. path)) end

-- "dir kind channel" for each record, e.g. "in invoke add".
local function summary(recs)
  local out = {}
  for _, r in ipairs(recs) do
    out[#out + 1] = r.dir .. " " .. r.kind .. (r.channel and (" " .. r.channel) or "")
  end
  return out
end

local function find(recs, dir, kind, channel)
  for _, r in ipairs(recs) do
    if r.dir == dir and r.kind == kind and r.channel == channel then return r end
  end
end

local function run(args, opts)
  opts = opts or {}
  local cmd = { t.bin }
  for _, a in ipairs(args) do cmd[#cmd + 1] = a end
  local r = t.exec({ cmd = cmd, env = opts.env, cwd = opts.cwd, stdin = opts.stdin })
  assert.is_false(r.timed_out, "mainhost hung:\n" .. r.stdout .. r.stderr)
  return r
end

local UI_HEAD = 'local R = require("mainhost.renderer")\nlocal ipc = R.ipcRenderer\n'

-- An app whose one Lua renderer goes through every kind of message once.
local APP = {
  ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
  ["main.lua"] = [[
local mh = require("mainhost")
mh.ipcMain.handle("add", function(_, a, b) return a + b end)
mh.ipcMain.handle("fail", function() error("nope") end)
mh.ipcMain.handle("slow", function(e)
  e.sender.send("during")
  mh.sleep(20)
  return "slow done"
end)
mh.ipcMain.on("sync", function(e, x) e.returnValue = x end)
mh.ipcMain.on("ping", function(e, x) e.reply("pong", x) end)
mh.ipcMain.on("done", function() mh.app.quit(0) end)
]],
  ["ui.lua"] = UI_HEAD .. [[
ipc.on("pong", function() ipc.send("done") end)
ipc.invoke("add", 1, 2)
pcall(ipc.invoke, "fail")
ipc.invoke("slow")
ipc.sendSync("sync", "x")
ipc.send("ping", "y")
]],
}

local APP_SEQUENCE = {
  "in hello",
  "in invoke add", "out result add",
  "in invoke fail", "out result fail",
  "in invoke slow", "out msg during", "out result slow",
  "in sync sync", "out result sync",
  "in send ping", "out msg pong",
  "in send done",
}

-- Runs APP (or files) with --trace=DIR/trace.jsonl; returns the exec result and the records.
local function traced(files)
  local dir = t.write(t.tempdir(), files or APP)
  local path = dir .. "/trace.jsonl"
  local started = os.time()
  local r = run({ "--trace=" .. path, dir })
  r.started, r.ended = started, os.time()
  assert.are.equal(0, r.code, r.stderr)
  return r, trace_of(path), path
end

describe("mainhost --trace=FILE APP", function()
  after_each(t.cleanup)

  it("writes every message the host reads and writes, one JSON line each, in the order it handled them", function()
    local _, recs = traced()
    assert.are.same(APP_SEQUENCE, summary(recs))
  end)

  it("gives each line time, dir, renderer, name, frame, kind and bytes, and a channel to all but hello", function()
    local r, recs = traced()
    for _, rec in ipairs(recs) do
      for _, f in ipairs(FIELDS) do assert.is_not_nil(rec[f], ("no %s in %s"):format(f, json.encode(rec))) end
      assert.are.equal("float", math.type(rec.time))
      -- Wall-clock time, not a monotonic clock (a VM's clock may be stepped: a minute of slack).
      assert.is_true(rec.time >= r.started - 60 and rec.time <= r.ended + 60, "time is not the Unix time: " .. rec.time)
      assert.is_truthy(rec.dir == "in" or rec.dir == "out")
      assert.are.same({ 1, "ui", 1 }, { rec.renderer, rec.name, rec.frame })
      assert.are.equal("integer", math.type(rec.bytes))
      assert.is_true(rec.bytes > 0)
      if rec.kind ~= "hello" then assert.are.equal("string", type(rec.channel)) end
    end
  end)

  it("gives invoke and sendSync requests their id, and their results the same id, the channel and rtt_ms", function()
    local _, recs = traced()
    for _, ch in ipairs({ "add", "fail", "slow", "sync" }) do
      local req = find(recs, "in", ch == "sync" and "sync" or "invoke", ch)
      local res = find(recs, "out", "result", ch)
      assert.are.equal("integer", math.type(req.id))
      assert.are.equal(req.id, res.id)
      assert.is_nil(req.rtt_ms)
      assert.are.equal("number", type(res.rtt_ms))
      assert.is_true(res.rtt_ms >= 0)
    end
    for _, rec in ipairs(recs) do
      if rec.kind == "send" or rec.kind == "msg" or rec.kind == "hello" then
        assert.is_nil(rec.id, json.encode(rec))
        assert.is_nil(rec.rtt_ms, json.encode(rec))
      end
    end
  end)

  it("measures rtt_ms from the request's line to the result's, across a handler that waits", function()
    local _, recs = traced()
    local req, during, res = find(recs, "in", "invoke", "slow"), find(recs, "out", "msg", "during"),
      find(recs, "out", "result", "slow")
    local gap = (res.time - req.time) * 1000
    assert.is_true(math.abs(res.rtt_ms - gap) < 5, ("rtt_ms %.3f, gap between the lines %.3f"):format(res.rtt_ms, gap))
    assert.is_true(res.rtt_ms >= (during.time - req.time) * 1000 - 1)
  end)

  it("marks the result of an invoke whose handler failed with error: true, and only that one", function()
    local _, recs = traced()
    assert.is_true(find(recs, "out", "result", "fail").error)
    for _, ch in ipairs({ "add", "slow", "sync" }) do assert.is_nil(find(recs, "out", "result", ch).error) end
  end)

  it("names the renderer of each line by webContents id and name", function()
    local _, recs = traced({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "left", script = "ui.lua" }, { name = "right", script = "ui.lua" } } },
      ["main.lua"] = [[
local mh = require("mainhost")
local n = 0
mh.ipcMain.on("hi", function(e)
  e.reply("bye")
  n = n + 1
  if n == 2 then mh.app.quit(0) end
end)
]],
      ["ui.lua"] = UI_HEAD .. 'ipc.send("hi")\n',
    })
    local seen = {}
    for _, rec in ipairs(recs) do
      if rec.channel then seen[#seen + 1] = ("%s %s %d %s"):format(rec.dir, rec.channel, rec.renderer, rec.name) end
    end
    table.sort(seen)
    assert.are.same({ "in hi 1 left", "in hi 2 right", "out bye 1 left", "out bye 2 right" }, seen)
  end)

  it("records the frame a message came from and the frame a reply went to", function()
    local _, recs = traced({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
      ["main.lua"] = [[
local mh = require("mainhost")
mh.ipcMain.on("from-frame", function(e) e.reply("to-frame") end)
mh.ipcMain.on("done", function() mh.app.quit(0) end)
]],
      ["ui.lua"] = UI_HEAD .. [[
local frame = R.openFrame()
frame.ipcRenderer.on("to-frame", function() ipc.send("done") end)
frame.ipcRenderer.send("from-frame")
]],
    })
    assert.are.equal(2, find(recs, "in", "send", "from-frame").frame)
    assert.are.equal(2, find(recs, "out", "msg", "to-frame").frame)
    assert.are.equal(1, find(recs, "in", "send", "done").frame)
  end)

  it("counts bytes as the length of the message's JSON line, the same way in both directions", function()
    -- An sh renderer writes exact protocol lines and prints the host's answers.
    local send_line = '{"k":"send","ch":"echo","args":["abc"]}'
    local sync_line = '{"k":"sync","ch":"twice","id":7,"args":[21]}'
    local r, recs = traced({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "sh", command = { "sh", "-c",
        "read -r hello <&3; " ..
        "printf '%s\\n' '" .. send_line .. "' >&3; read -r a <&3; printf 'got %s\\n' \"$a\"; " ..
        "printf '%s\\n' '" .. sync_line .. "' >&3; read -r b <&3; printf 'got %s\\n' \"$b\"" } } } },
      ["main.lua"] = [[
local mh = require("mainhost")
mh.ipcMain.on("echo", function(e, x) e.reply("echoed", x) end)
mh.ipcMain.on("twice", function(e, x) e.returnValue = x * 2 end)
]],
    })
    local got = {}
    for l in r.stdout:gmatch("%[sh%] got ([^\n]*)") do got[#got + 1] = l end
    assert.are.equal(2, #got, r.stdout)
    assert.are.equal(#send_line, find(recs, "in", "send", "echo").bytes)
    assert.are.equal(#sync_line, find(recs, "in", "sync", "twice").bytes)
    assert.are.equal(#got[1], find(recs, "out", "msg", "echoed").bytes, got[1])
    local res = find(recs, "out", "result", "twice")
    assert.are.equal(#got[2], res.bytes, got[2])
    assert.are.equal(7, res.id)
  end)

  it("writes each line as it happens, so a host killed with SIGKILL leaves the trace up to the kill", function()
    local dir = t.write(t.tempdir(), {
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
      ["main.lua"] = [[
local mh = require("mainhost")
local uv = require("luv")
mh.ipcMain.handle("add", function(_, a, b) return a + b end)
mh.ipcMain.on("die", function() uv.kill(uv.os_getpid(), "sigkill") end)
]],
      ["ui.lua"] = UI_HEAD .. 'ipc.invoke("add", 1, 2)\nipc.send("die")\n',
    })
    local r = run({ "--trace=" .. dir .. "/trace.jsonl", dir })
    assert.are.equal(9, r.signal, r.stderr)
    assert.are.same({ "in hello", "in invoke add", "out result add", "in send die" },
      summary(trace_of(dir .. "/trace.jsonl")))
  end)

  it("writes the trace to stderr with --trace alone", function()
    local dir = t.write(t.tempdir(), APP)
    local r = run({ "--trace", dir })
    assert.are.equal(0, r.code, r.stderr)
    local lines = {}
    for _, l in ipairs(t.lines(r.stderr)) do
      if l:sub(1, 1) == "{" then lines[#lines + 1] = l end
    end
    assert.are.same(APP_SEQUENCE, summary(records(table.concat(lines, "\n") .. "\n")))
  end)

  it("writes no trace without --trace", function()
    local dir = t.write(t.tempdir(), APP)
    local r = run({ dir })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_nil(r.stderr:find('{"time":', 1, true))
    assert.is_nil(r.stdout:find('{"time":', 1, true))
  end)

  it("exits 2 without starting the app when the trace file cannot be opened", function()
    local dir = t.write(t.tempdir(), {
      ["main.lua"] = 'print("main ran")\n',
    })
    local r = run({ "--trace=/nonexistent/dir/x", dir .. "/main.lua" })
    assert.are.equal(2, r.code)
    assert.matches("mainhost: cannot write the trace to /nonexistent/dir/x: No such file or directory", r.stderr, 1, true)
    assert.is_nil(r.stdout:find("main ran", 1, true))
  end)

  it("exits 2 on a config error before creating the trace file", function()
    local dir = t.tempdir()
    local r = run({ "--trace=" .. dir .. "/trace.jsonl", dir .. "/missing" })
    assert.are.equal(2, r.code)
    assert.matches("mainhost: config error:", r.stderr, 1, true)
    assert.is_nil(read(dir .. "/trace.jsonl"))
  end)

  it("prints the usage and exits 2 for --trace with no APP", function()
    local r = run({ "--trace=x.jsonl" })
    assert.are.equal(2, r.code)
    assert.matches("usage: mainhost [--trace[=FILE]] APP", r.stderr, 1, true)
  end)

  it("lists --trace and mainhost stats in --help", function()
    local r = run({ "--help" })
    assert.are.equal(0, r.code)
    assert.matches("--trace[=FILE]", r.stdout, 1, true)
    assert.matches("mainhost stats TRACE", r.stdout, 1, true)
  end)
end)

describe("mainhost.trace from the main script", function()
  after_each(t.cleanup)

  -- An app whose renderer sends the given channels in order, then "done";
  -- main runs actions[channel] (Lua source) when a channel arrives.
  local function app_sending(channels, actions, top)
    local handlers = {}
    for ch, src in pairs(actions or {}) do
      handlers[#handlers + 1] = ("mh.ipcMain.on(%q, function() %s end)"):format(ch, src)
    end
    local sends = {}
    for _, ch in ipairs(channels) do sends[#sends + 1] = ("ipc.send(%q)"):format(ch) end
    return {
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
      ["main.lua"] = 'local mh = require("mainhost")\n' .. (top or "") .. "\n" .. table.concat(handlers, "\n")
        .. '\nmh.ipcMain.on("done", function() mh.app.quit(0) end)\n',
      ["ui.lua"] = UI_HEAD .. table.concat(sends, "\n") .. '\nipc.send("done")\n',
    }
  end

  local function sends(recs)
    local out = {}
    for _, r in ipairs(recs) do
      if r.kind == "send" then out[#out + 1] = r.channel end
    end
    return out
  end

  it("stops the trace with mainhost.trace(false): later messages are not written", function()
    local _, recs = traced(app_sending({ "one", "stop", "two" }, { stop = "assert(mh.trace(false))" }))
    assert.are.same({ "one", "stop" }, sends(recs))
  end)

  it("resumes the --trace file with mainhost.trace(true), keeping what was written before", function()
    local _, recs = traced(app_sending({ "one", "stop", "hidden", "resume", "two" },
      { stop = "assert(mh.trace(false))", resume = "assert(mh.trace(true))" }))
    assert.are.same({ "one", "stop", "two", "done" }, sends(recs))
  end)

  it("starts a trace with mainhost.trace(path) in an app run without --trace", function()
    local dir = t.tempdir()
    local path = dir .. "/from-script.jsonl"
    t.write(dir, app_sending({ "one" }, {}, ("assert(mh.trace(%q))"):format(path)))
    local r = run({ dir })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ "one", "done" }, sends(trace_of(path)))
  end)

  it("moves the trace to another file with mainhost.trace(path)", function()
    local other = t.tempdir() .. "/other.jsonl"
    local _, recs = traced(app_sending({ "one", "switch", "two" }, { switch = ("assert(mh.trace(%q))"):format(other) }))
    assert.are.same({ "one", "switch" }, sends(recs))
    assert.are.same({ "two", "done" }, sends(trace_of(other)))
  end)
end)

describe("mainhost.trace in the test host", function()
  local main
  before_each(function()
    main = t.write(t.tempdir(), { ["main.lua"] = [[
local mh = require("mainhost")
mh.ipcMain.on("note", function(e, x) e.reply("noted", x) end)
mh.ipcMain.handle("add", function(_, a, b) return a + b end)
]] }) .. "/main.lua"
    t.load(main)
  end)
  after_each(function()
    mh.trace(false)
    t.reset()
    t.cleanup()
  end)

  it("traces in-process renderers under their names", function()
    local path = t.tempdir() .. "/trace.jsonl"
    local r = t.renderer({ name = "fake-ui" })
    assert.is_true(mh.trace(path))
    assert.are.same({ 3 }, { r:invoke("add", 1, 2) })
    mh.trace(false)
    local recs = trace_of(path)
    assert.are.same({ "in invoke add", "out result add" }, summary(recs))
    for _, rec in ipairs(recs) do assert.are.same({ r.id, "fake-ui" }, { rec.renderer, rec.name }) end
  end)

  it("returns nil and the reason for a file it cannot open, and the current trace goes on", function()
    local path = t.tempdir() .. "/trace.jsonl"
    local r = t.renderer()
    assert.is_true(mh.trace(path))
    local ok, err = mh.trace("/nonexistent/dir/x")
    assert.is_nil(ok)
    assert.are.equal("/nonexistent/dir/x: No such file or directory", err)
    r:send("note", 1)
    mh.trace(false)
    assert.are.same({ "in send note", "out msg noted" }, summary(trace_of(path)))
  end)

  it("stops with mainhost.trace() and no argument, as with false", function()
    local path = t.tempdir() .. "/trace.jsonl"
    local r = t.renderer()
    assert.is_true(mh.trace(path))
    r:send("note", 1)
    assert.is_true(mh.trace())
    r:send("note", 2)
    assert.are.same({ "in send note", "out msg noted" }, summary(trace_of(path)))
  end)

  it("writes channels with quotes, newlines and non-UTF-8 bytes so that decoding the line gives them back", function()
    local path = t.tempdir() .. "/trace.jsonl"
    local odd = 'say "hi"\n\255\0end'
    local r = t.renderer()
    assert.is_true(mh.trace(path))
    r:send(odd, 1)
    mh.trace(false)
    local recs = trace_of(path)
    assert.are.equal(1, #recs)
    assert.are.equal(odd, recs[1].channel)
  end)
end)

-- ---- mainhost stats ----------------------------------------------------------------------

-- A hand-written trace: "slow" 100 invoke round trips of 1..100 ms, "add"
-- 2 of 1.5 and 2.5 ms, "news" 3 messages out, one hello.
local function sample_trace()
  local l = {}
  local function rec(t_) l[#l + 1] = json.encode(t_) end
  rec({ time = 1.5, dir = "in", renderer = 1, name = "ui", frame = 1, kind = "hello", bytes = 31 })
  for i = 1, 100 do
    rec({ time = 2.0, dir = "in", renderer = 1, name = "ui", frame = 1, kind = "invoke", channel = "slow", bytes = 10, id = i })
    rec({ time = 2.5, dir = "out", renderer = 1, name = "ui", frame = 1, kind = "result", channel = "slow", bytes = 10, id = i, rtt_ms = i + 0.0 })
  end
  for i, rtt in ipairs({ 2.5, 1.5 }) do
    rec({ time = 3.0, dir = "in", renderer = 1, name = "ui", frame = 1, kind = "invoke", channel = "add", bytes = 40, id = 200 + i })
    rec({ time = 3.5, dir = "out", renderer = 1, name = "ui", frame = 1, kind = "result", channel = "add", bytes = 30, id = 200 + i, rtt_ms = rtt })
  end
  for _ = 1, 3 do
    rec({ time = 4.0, dir = "out", renderer = 1, name = "ui", frame = 1, kind = "msg", channel = "news", bytes = 1000 })
  end
  return table.concat(l, "\n") .. "\n"
end

local function stats_of(text)
  local path = t.write(t.tempdir(), { ["trace.jsonl"] = text }) .. "/trace.jsonl"
  return run({ "stats", path })
end

-- The index of the first output line matching pattern, or fails.
local function line_index(out, pattern)
  for i, l in ipairs(t.lines(out)) do
    if l:match(pattern) then return i end
  end
  error(("no line matching %q in\n%s"):format(pattern, out), 2)
end

describe("mainhost stats TRACE", function()
  after_each(t.cleanup)

  it("prints the number of messages and, per channel, messages in, out and bytes, busiest channel first", function()
    local r = stats_of(sample_trace())
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^208 messages\n", r.stdout)
    local slow = line_index(r.stdout, "^slow%s+100%s+100%s+2%.0 KiB$")
    local news = line_index(r.stdout, "^news%s+0%s+3%s+2%.9 KiB$")
    local add = line_index(r.stdout, "^add%s+2%s+2%s+140 B$")
    local hello = line_index(r.stdout, "^%(no channel%)%s+1%s+0%s+31 B$")
    assert.is_true(slow < add and add < news and news < hello, r.stdout)
  end)

  it("lists the slowest handlers with calls and p50, p99 and max round trips, highest p99 first", function()
    local r = stats_of(sample_trace())
    assert.are.equal(0, r.code, r.stderr)
    local head = line_index(r.stdout, "^slowest handlers")
    local slow = line_index(r.stdout, "^slow%s+100%s+50%.000%s+99%.000%s+100%.000$")
    local add = line_index(r.stdout, "^add%s+2%s+1%.500%s+2%.500%s+2%.500$")
    assert.is_true(head < slow and slow < add, r.stdout)
    assert.is_nil(r.stdout:match("\nnews%s+%d+%s+%d+%.%d+"), "news has no round trips:\n" .. r.stdout)
  end)

  it("reads the trace from stdin with -", function()
    local r = run({ "stats", "-" }, { stdin = sample_trace() })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^208 messages\n", r.stdout)
  end)

  it("counts lines that are not JSON as unreadable and summarises the rest", function()
    local r = stats_of("not json\n" .. sample_trace() .. '{"dir":"in",\n42\n\n')
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^208 messages %(3 unreadable lines%)\n", r.stdout)
    line_index(r.stdout, "^slow%s+100%s+100%s+2%.0 KiB$")
  end)

  it("counts JSON lines that are not trace records (wrong field types, not an object) as unreadable", function()
    local bad = table.concat({
      '{"dir":"in","kind":"send","channel":"a","bytes":"many"}',
      '{"dir":"in","kind":"send","channel":5,"bytes":1}',
      '{"dir":"out","kind":"result","channel":"a","bytes":1,"rtt_ms":"slow"}',
      '[1,2]',
    }, "\n") .. "\n"
    local r = stats_of(bad .. sample_trace())
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^208 messages %(4 unreadable lines%)\n", r.stdout)
  end)

  it("summarises a real trace: each channel's messages and each handler's round trips", function()
    local _, _, path = traced()
    local r = run({ "stats", path })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^13 messages\n", r.stdout)
    line_index(r.stdout, "^add%s+1%s+1%s+%d+ B$")
    line_index(r.stdout, "^pong%s+0%s+1%s+%d+ B$")
    local head = line_index(r.stdout, "^slowest handlers")
    for _, ch in ipairs({ "add", "fail", "slow", "sync" }) do
      local i = line_index(r.stdout, "^" .. ch .. "%s+1%s+%d+%.%d%d%d%s+%d+%.%d%d%d%s+%d+%.%d%d%d$")
      assert.is_true(i > head)
    end
  end)

  it("says which file it cannot read and why, and exits 1", function()
    local r = run({ "stats", "/nonexistent/trace.jsonl" })
    assert.are.equal(1, r.code)
    assert.matches("mainhost stats: /nonexistent/trace.jsonl: No such file or directory", r.stderr, 1, true)
    assert.is_nil(r.stderr:find("traceback", 1, true), r.stderr)
  end)

  it("prints its usage and exits 2 with no TRACE", function()
    local r = run({ "stats" })
    assert.are.equal(2, r.code)
    assert.matches("usage: mainhost stats TRACE", r.stderr, 1, true)
  end)
end)
