-- Hostile renderers, end to end: a real host runs a well-behaved Lua
-- renderer "ui" next to "evil", a small stdlib-only Python 3 script that
-- writes raw bytes to fd 3. Whatever evil writes, the host refuses it with
-- the reason documented in docs/protocol.md (section 7), on a stderr line
--   mainhost: renderer 'evil' (id N): refused a message: REASON
-- calls no listener for it, answers it only where the protocol says so,
-- disconnects evil only where the stream can no longer be trusted, keeps
-- serving ui (once evil is done, ui invokes and main quits) and exits 0.
local t = require("mainhost.test")
local S = require("support.app")
local assert_line, lines_from = S.assert_line, S.lines_from

-- The main script of every app. `show(v)` prints a value with its type
-- ("int:1", "float:1.0", "str:a\x00b" with every non-alphanumeric byte
-- as \xHH). Every hostile message aims at the channel "hit", whose
-- listener and handler print "main: hit N v1 v2 ..." (at most 5 values),
-- so a refused message shows up as a missing "main: hit" line. When evil
-- is over (its process gone, or `evil_over()` called by a test's own main
-- code), main tells ui "go"; ui invokes "add" and sends "done"; main quits.
local MAIN = [==[
local mh = require("mainhost")
local ipc = mh.ipcMain
local function show(v)
  local mt = math.type(v)
  if mt == "integer" then return ("int:%d"):format(v) end
  if mt == "float" then return ("float:%.17g"):format(v) end
  if type(v) == "string" then
    return "str:" .. (v:gsub("[^%w]", function(c) return ("\\x%02x"):format(c:byte()) end))
  end
  return type(v) .. ":" .. tostring(v)
end
local function hit(...)
  local out = {}
  for i = 1, math.min(select("#", ...), 5) do out[i] = show((select(i, ...))) end
  print("main: hit " .. select("#", ...) .. (#out > 0 and " " or "") .. table.concat(out, " "))
end
local ui, over = nil, false
local function maybe_go()
  if ui and over then ui.send("go") end
end
local function evil_over()
  if over then return end
  over = true
  maybe_go()
end
mh.app.on("web-contents-created", function(_, wc)
  if wc.name ~= "evil" then return end
  print("main: evil is id " .. wc.id)
  wc.on("render-process-gone", function(_, d)
    print("main: evil gone " .. d.reason .. " " .. d.exitCode)
    evil_over()
  end)
end)
ipc.on("ui-ready", function(e)
  ui = e.sender
  maybe_go()
end)
ipc.handle("add", function(_, a, b) return a + b end)
ipc.on("done", function()
  print("main: done")
  mh.app.quit()
end)
ipc.on("hit", function(_, ...) hit(...) end)
ipc.handle("hit", function(_, ...) hit(...) return "hit" end)
-- "slow" (invoke) and "slowsync" (sendSync) wait until evil sends "release".
local held = {}
ipc.handle("slow", function(_, tag)
  print("main: slow " .. show(tag))
  held[#held + 1] = coroutine.running()
  coroutine.yield()
  return "slow " .. tostring(tag)
end)
ipc.on("slowsync", function(e, tag)
  print("main: slowsync " .. show(tag))
  held[#held + 1] = function() e.returnValue = "sync " .. tostring(tag) end
end)
ipc.on("release", function()
  local list = held
  held = {}
  for _, w in ipairs(list) do
    if type(w) == "function" then w() else assert(coroutine.resume(w)) end
  end
end)
]==]

local UI = [==[
local ipc = require("mainhost.renderer").ipcRenderer
ipc.on("go", function()
  print("2 + 3 = " .. ipc.invoke("add", 2, 3))
  ipc.send("done")
end)
ipc.send("ui-ready")
]==]

-- The start of every evil.py: send(bytes) writes raw bytes to fd 3;
-- read_line() reads one line from it (None at EOF); results(ids) reads
-- until each of ids has a result and prints every result it saw, in
-- arrival order, as "evil: result ID args JSON" or "evil: result ID error TEXT".
local EVIL = [==[
import json, os, select, sys
FD = int(os.environ["MAINHOST_IPC_FD"])
os.set_blocking(FD, True)
ipc = os.fdopen(FD, "wb", buffering=0)

def send(data):
    view = memoryview(data)
    while view:
        view = view[ipc.write(view):]

_buf = b""
def read_line():
    global _buf
    while b"\n" not in _buf:
        chunk = os.read(FD, 65536)
        if not chunk:
            return None
        _buf += chunk
    line, _buf = _buf.split(b"\n", 1)
    return line

def wait_end():
    """Reads until the host closes the channel: "EOF", or "reset" when the
    host closed it with data of ours still unread."""
    try:
        while read_line() is not None:
            pass
        return "EOF"
    except ConnectionResetError:
        return "reset"

def say(*a):
    print("evil:", *a, flush=True)

def results(ids):
    want = set(ids)
    while want:
        line = read_line()
        if line is None:
            say("EOF while waiting for results", sorted(want))
            return
        m = json.loads(line)
        if m.get("k") != "result":
            continue
        want.discard(m["id"])
        if "error" in m:
            say("result", m["id"], "error", m["error"])
        else:
            say("result", m["id"], "args", json.dumps(m["args"], separators=(",", ":")))
]==]

-- A Python bytes literal for any Lua string.
local function py(s)
  return "b'" .. s:gsub(".", function(c)
    local b = c:byte()
    if b >= 32 and b < 127 and c ~= "'" and c ~= "\\" then return c end
    return ("\\x%02x"):format(b)
  end) .. "'"
end

-- Python code sending each Lua string of lines, each followed by "\n".
local function send_lines(lines)
  local out = {}
  for i, l in ipairs(lines) do out[i] = "send(" .. py(l .. "\n") .. ")" end
  return table.concat(out, "\n") .. "\n"
end

-- main's lines starting with word, without "main: ".
local function main_said(r, word)
  local out = {}
  for _, l in ipairs(lines_from(r.stdout, "main: ")) do
    if l:sub(1, #word) == word then out[#out + 1] = l end
  end
  return out
end

-- Runs an app of main (MAIN plus opts.main), ui and evil (EVIL plus
-- evil_code, started as `python3 evil.py`), with opts.limits and evil's
-- opts.channels in the config. Checks what every app here must do: no
-- hang, no crash, exit code 0, ui served to the end. Returns the result
-- plus .all (stdout and stderr), .id (evil's webContents id), .refused
-- (the reasons of evil's "refused a message" lines, in order), .evil
-- (what evil printed, without "[evil] evil: "), .hits (main's "hit" lines).
local function run(evil_code, opts)
  opts = opts or {}
  local r = t.run_app({
    ["main.lua"] = MAIN .. (opts.main or ""),
    ["ui.lua"] = UI,
    ["evil.py"] = EVIL .. evil_code,
    ["mainhost.json"] = {
      main = "main.lua",
      limits = opts.limits,
      renderers = {
        { name = "ui", script = "ui.lua" },
        { name = "evil", command = { "python3", "evil.py" }, channels = opts.channels },
      },
    },
  }, { timeout = opts.timeout or 60000 })
  r.all = "stdout:\n" .. r.stdout .. "\nstderr:\n" .. r.stderr
  assert.is_false(r.timed_out, "the app hung:\n" .. r.all)
  assert.are.equal(0, r.signal, "the host died of a signal:\n" .. r.all)
  assert.are.equal(0, r.code, "exit code:\n" .. r.all)
  assert_line(r.stdout, "[ui] 2 + 3 = 5", r.all)
  assert_line(r.stdout, "main: done", r.all)
  r.id = tonumber(r.stdout:match("main: evil is id (%d+)"))
  assert(r.id, "main never saw evil's webContents:\n" .. r.all)
  r.refused = lines_from(r.stderr, ("mainhost: renderer 'evil' (id %d): refused a message: "):format(r.id))
  r.evil = lines_from(r.stdout, "[evil] evil: ")
  r.hits = lines_from(r.stdout, "main: hit")
  return r
end

-- A send to "hit", up to its args.
local PREFIX = '{"k":"send","ch":"hit","args":'

-- The parser's reason as the host words it (mh_wire.c): REASON at byte
-- OFFSET, the offset of needle's first occurrence in line.
local function at(reason, line, needle)
  local i = assert(line:find(needle, 1, true), "needle not in line")
  return ("%s at byte %d"):format(reason, i - 1)
end

describe("a hostile renderer", function()
  after_each(t.cleanup)

  describe("sending lines that are not messages", function()
    it("gets each line that is not JSON refused with the parser's reason and offset, and no listener runs", function()
      local trailing = '{"k":"send","ch":"hit"} x'
      local lines = {
        "hello there",
        "   ",
        '{"k":"send","ch":"hit","args":[1,]}',
        '{"k":"send","ch":"hit"',
        trailing,
        "{'k':'send'}",
        '{"k":"send","ch":"hit","args":[NaN]}',
        '{"k":"send","ch":"hit","args":[01]}',
        '',
        PREFIX .. '["ok"]}',
      }
      local r = run(send_lines(lines))
      assert.are.same({
        "expected a value at byte 0",
        "empty input at byte 3",
        at("expected a value", lines[3], "]}"),
        ("unexpected end of input at byte %d"):format(#lines[4]),
        at("trailing characters after the value", trailing, "x"),
        "expected a string key at byte 1",
        at("expected a value", lines[7], "NaN"),
        at("leading zero in number", lines[8], "1]"),
      }, r.refused, r.all)
      assert.are.same({ ' 1 str:ok' }, r.hits, r.all)
      assert_line(r.stdout, "main: evil gone clean-exit 0", r.all)
    end)

    it("gets JSON that is not an object refused as not an object", function()
      local r = run(send_lines({ "[1,2,3]", '"send"', "42", "null", "true", "[]" }))
      assert.are.same({
        "message is not a JSON object", "message is not a JSON object", "message is not a JSON object",
        "message is not a JSON object", "message is not a JSON object", "message is not a JSON object",
      }, r.refused, r.all)
      assert.are.same({}, r.hits, r.all)
    end)
  end)

  describe("sending objects with bad fields", function()
    it("gets an unknown kind, a missing kind and host-to-renderer kinds refused, each with its reason", function()
      local r = run(send_lines({
        '{"k":"bogus","ch":"hit","args":[1]}',
        '{"ch":"hit","args":[1]}',
        '{}',
        '{"k":"result","id":1,"args":[1]}',
        '{"k":"msg","ch":"hit","args":[1]}',
      }))
      assert.are.same({
        'unknown message kind "bogus"',
        'message has no "k" field',
        'message has no "k" field',
        "this kind of message goes from the host to renderers, not back",
        "this kind of message goes from the host to renderers, not back",
      }, r.refused, r.all)
      assert.are.same({}, r.hits, r.all)
    end)

    it("gets a missing or wrongly typed channel, wrongly typed args, k or frame, and args twice refused", function()
      local r = run(send_lines({
        '{"k":"send","args":[1]}',
        '{"k":"send","ch":42,"args":[1]}',
        '{"k":"send","ch":null,"args":[1]}',
        '{"k":"send","ch":["hit"],"args":[1]}',
        '{"k":"send","ch":"hit","args":"x"}',
        '{"k":"send","ch":"hit","args":{"a":1}}',
        '{"k":"send","ch":"hit","args":null}',
        '{"k":"send","ch":"hit","args":[1],"args":[2]}',
        '{"k":7,"ch":"hit","args":[1]}',
        '{"k":"send","ch":"hit","frame":0,"args":[1]}',
        '{"k":"send","ch":"hit","frame":"1","args":[1]}',
        '{"k":"send","ch":"hit","id":"7","args":[1]}',
        '{"k":"send","ch":"hit","extra":{"deep":[1,2,{"x":null}]},"args":["unknown fields are skipped"]}',
      }))
      assert.are.same({
        'message has no "ch" (channel) field',
        'field "ch" must be a string',
        'field "ch" must be a string',
        "a message field has the wrong type",
        'field "args" must be an array',
        'field "args" must be an array',
        'field "args" must be an array',
        'field "args" appears twice',
        'field "k" must be a string',
        'field "frame" must be 1 or more',
        'field "frame" must be an integer',
        'field "id" must be an integer',
      }, r.refused, r.all)
      assert.are.same({ " 1 str:unknown\\x20fields\\x20are\\x20skipped" }, r.hits, r.all)
    end)
  end)

  describe("sending requests", function()
    it("gets an invoke or sendSync without a usable id refused with no result, while a later invoke is answered", function()
      local r = run(send_lines({
        '{"k":"invoke","ch":"hit","args":[1]}',
        '{"k":"sync","ch":"hit","args":[1]}',
        '{"k":"invoke","ch":"hit","id":"5","args":[1]}',
        '{"k":"invoke","ch":"hit","id":1.5,"args":[1]}',
        '{"k":"invoke","ch":"hit","id":18446744073709551616,"args":[1]}',
        '{"k":"invoke","ch":"add","id":-9223372036854775808,"args":[40,2]}',
      }) .. "results([-9223372036854775808])\n")
      assert.are.same({
        'message has no "id" field',
        'message has no "id" field',
        'field "id" must be an integer',
        'field "id" must be an integer',
        'field "id" must be an integer',
      }, r.refused, r.all)
      assert.are.same({}, r.hits, r.all)
      assert.are.same({ "result -9223372036854775808 args [42]" }, r.evil, r.all)
    end)

    it("gets an invoke id reused while it is pending refused, and only the first gets a result", function()
      local r = run(send_lines({
        '{"k":"invoke","ch":"slow","id":7,"args":["first"]}',
        '{"k":"invoke","ch":"slow","id":7,"args":["second"]}',
        '{"k":"sync","ch":"slowsync","id":7,"args":["third"]}',
        '{"k":"send","ch":"release","args":[]}',
        '{"k":"invoke","ch":"add","id":8,"args":[1,1]}',
      }) .. "results([7, 8])\n" .. send_lines({
        -- Answered: the id is free again.
        '{"k":"invoke","ch":"add","id":7,"args":[3,4]}',
      }) .. "results([7])\n")
      assert.are.same({ "id 7 is already awaiting a reply", "id 7 is already awaiting a reply" }, r.refused, r.all)
      assert.are.same({ "slow str:first" }, main_said(r, "slow "), r.all)
      assert.are.same({ 'result 7 args ["slow first"]', "result 8 args [2]", "result 7 args [7]" }, r.evil, r.all)
    end)

    it("gets invokes past limits.maxPendingInvokes answered with an error at once, and the others answered later", function()
      local r = run(send_lines({
        '{"k":"invoke","ch":"slow","id":1,"args":[1]}',
        '{"k":"invoke","ch":"slow","id":2,"args":[2]}',
        '{"k":"invoke","ch":"slow","id":3,"args":[3]}',
        '{"k":"invoke","ch":"slow","id":4,"args":[4]}',
        '{"k":"invoke","ch":"slow","id":5,"args":[5]}',
      }) .. "results([4, 5])\n" .. send_lines({
        '{"k":"send","ch":"release","args":[]}',
        '{"k":"invoke","ch":"add","id":6,"args":[3,3]}',
      }) .. "results([1, 2, 3, 6])\n", { limits = { maxPendingInvokes = 3 } })
      local why = "too many invoke requests awaiting a reply (limit 3)"
      assert.are.same({ why, why }, r.refused, r.all)
      assert.are.same({ "slow int:1", "slow int:2", "slow int:3" }, main_said(r, "slow "), r.all)
      assert.are.same({
        "result 4 error Error: " .. why,
        "result 5 error Error: " .. why,
        'result 1 args ["slow 1"]',
        'result 2 args ["slow 2"]',
        'result 3 args ["slow 3"]',
        "result 6 args [6]",
      }, r.evil, r.all)
    end)

    it("gets sendSync requests past limits.maxPendingSync answered with an error at once, and the others answered later", function()
      local r = run(send_lines({
        '{"k":"sync","ch":"slowsync","id":1,"args":[1]}',
        '{"k":"sync","ch":"slowsync","id":2,"args":[2]}',
        '{"k":"sync","ch":"slowsync","id":3,"args":[3]}',
        '{"k":"sync","ch":"slowsync","id":4,"args":[4]}',
      }) .. "results([3, 4])\n" .. send_lines({
        '{"k":"send","ch":"release","args":[]}',
      }) .. "results([1, 2])\n", { limits = { maxPendingSync = 2 } })
      local why = "too many sendSync requests awaiting a reply (limit 2)"
      assert.are.same({ why, why }, r.refused, r.all)
      assert.are.same({ "slowsync int:1", "slowsync int:2" }, main_said(r, "slowsync "), r.all)
      assert.are.same({
        "result 3 error Error: " .. why,
        "result 4 error Error: " .. why,
        'result 1 args ["sync 1"]',
        'result 2 args ["sync 2"]',
      }, r.evil, r.all)
    end)

    it("gets channels outside its \"channels\" allowlist refused and logged, with an error result for invoke and sendSync", function()
      local r = run(send_lines({
        '{"k":"send","ch":"hit","args":[1]}',
        '{"k":"invoke","ch":"hit","id":1,"args":[1]}',
        '{"k":"sync","ch":"hit","id":2,"args":[1]}',
        '{"k":"invoke","ch":"jobs","id":3,"args":[1]}',
        '{"k":"invoke","ch":"Jobs:add","id":4,"args":[1]}',
        '{"k":"invoke","ch":"jobs:add","id":5,"args":[2,2]}',
        '{"k":"send","ch":"jobs:note","args":["allowed"]}',
      }) .. "results([1, 2, 3, 4, 5])\n", {
        channels = { "jobs:*" },
        main = [[
ipc.handle("jobs:add", function(_, a, b) return a + b end)
ipc.on("jobs:note", function(_, s) print("main: note " .. s) end)
]],
      })
      local function no(ch) return ("channel '%s' is not allowed for renderer 'evil'"):format(ch) end
      assert.are.same({ no("hit"), no("hit"), no("hit"), no("jobs"), no("Jobs:add") }, r.refused, r.all)
      assert.are.same({}, r.hits, r.all)
      assert_line(r.stdout, "main: note allowed", r.all)
      assert.are.same({
        "result 1 error Error: " .. no("hit"),
        "result 2 error Error: " .. no("hit"),
        "result 3 error Error: " .. no("jobs"),
        "result 4 error Error: " .. no("Jobs:add"),
        "result 5 args [4]",
      }, r.evil, r.all)
    end)
  end)

  describe("sending bad bytes", function()
    it("gets invalid UTF-8 refused with the offset of the bad sequence, while escaped non-UTF-8 bytes are delivered", function()
      local lines = {
        PREFIX .. '["\xff"]}',
        PREFIX .. '["ok\xc0\x80"]}',       -- overlong NUL
        PREFIX .. '["\xed\xa0\x80"]}',     -- an encoded surrogate
        PREFIX .. '["\xf4\x90\x80\x80"]}', -- past U+10FFFF
        PREFIX .. '["\xe2\x82"]}',         -- cut short
        '{"k":"send","ch":"h\xffit","args":[1]}',
        '{"k":"send","ch":"hit","args":[{"\x80":1}]}',
        PREFIX .. '["h\xc3\xa9", "\\udcff"]}',
      }
      local r = run(send_lines(lines))
      local bad = "invalid UTF-8 in string"
      assert.are.same({
        at(bad, lines[1], "\xff"), at(bad, lines[2], "\xc0"), at(bad, lines[3], "\xed"),
        at(bad, lines[4], "\xf4"), at(bad, lines[5], "\xe2"), at(bad, lines[6], "\xff"),
        at(bad, lines[7], "\x80"),
      }, r.refused, r.all)
      assert.are.same({ " 2 str:h\\xc3\\xa9 str:\\xff" }, r.hits, r.all)
    end)

    it("gets a raw NUL or control byte inside a string refused, while an escaped NUL is delivered", function()
      local lines = {
        PREFIX .. '["a\0b"]}',
        '{"k":"send","ch":"h\0it","args":[1]}',
        PREFIX .. '["a\1b"]}',
        '{"k":"send",\0"ch":"hit","args":[1]}',
        PREFIX .. '["a\\u0000b"]}',
      }
      local r = run(send_lines(lines))
      assert.are.same({
        at("NUL byte in string", lines[1], "\0"),
        at("NUL byte in string", lines[2], "\0"),
        at("control character in string", lines[3], "\1"),
        at("expected a string key", lines[4], "\0"),
      }, r.refused, r.all)
      assert.are.same({ " 1 str:a\\x00b" }, r.hits, r.all)
    end)
  end)

  describe("sending numbers", function()
    it("gets integers past 64 bits as floats, exactly as Lua's tonumber reads them", function()
      local texts = { "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "123456789012345678901234567890" }
      local r = run(send_lines({ PREFIX .. "[" .. table.concat(texts, ",") .. "]}" }))
      local want = {}
      for i, s in ipairs(texts) do
        local v = tonumber(s)
        want[i] = math.type(v) == "integer" and ("int:%d"):format(v) or ("float:%.17g"):format(v)
      end
      assert.are.same({}, r.refused, r.all)
      assert.are.same({ " 5 " .. table.concat(want, " ") }, r.hits, r.all)
      assert.are.same({ "int:9223372036854775807", "float:9.2233720368547758e+18", "int:-9223372036854775808",
        "float:-9.2233720368547758e+18", "float:1.2345678901234568e+29" }, want)
    end)

    it("gets a number too large for a double refused as out of range, while one too small reads as 0.0", function()
      local lines = {
        PREFIX .. "[1e400]}",
        PREFIX .. "[-1e400]}",
        PREFIX .. "[1, 2, 1E+400]}",
        '{"k":"invoke","ch":"hit","id":1e400,"args":[1]}',
        PREFIX .. "[1e-400]}",
      }
      local r = run(send_lines(lines))
      assert.are.same({
        at("number out of range", lines[1], "1e400"),
        at("number out of range", lines[2], "-1e400"),
        at("number out of range", lines[3], "1E+400"),
        at("number out of range", lines[4], "1e400"),
      }, r.refused, r.all)
      assert.are.same({ " 1 float:0" }, r.hits, r.all)
    end)
  end)

  describe("sending deep or wide messages", function()
    it("gets nesting deeper than limits.maxDepth refused, and nesting at the limit delivered", function()
      -- The message object is level 1 and args level 2: 8 more fit in 10.
      local ok = PREFIX .. "[" .. ("["):rep(8) .. "1" .. ("]"):rep(8) .. "]}"
      local deep = PREFIX .. "[" .. ("["):rep(9) .. "1" .. ("]"):rep(9) .. "]}"
      local obj = PREFIX .. "[" .. ('{"a":'):rep(9) .. "1" .. ("}"):rep(9) .. "]}"
      local r = run(send_lines({ ok, deep, obj }), { limits = { maxDepth = 10 } })
      assert.are.same({
        ("nested too deeply at byte %d"):format(#PREFIX + 9),
        ("nested too deeply at byte %d"):format(#PREFIX + 1 + 5 * 8),
      }, r.refused, r.all)
      assert.are.equal(1, #r.hits, r.all)
      assert.matches("^ 1 table:", r.hits[1])
    end)

    it("survives 1,000,000 '[' in a row, at the default and at the largest maxDepth", function()
      local code = [[
send(b"[" * 1000000 + b"\n")
send(b'{"k":"send","ch":"hit","args":' + b"[" * 1000000 + b"\n")
]]
      local r1 = run(code)
      assert.are.same({ "message is not a JSON object", ("nested too deeply at byte %d"):format(#PREFIX + 199) },
        r1.refused, r1.all)
      assert.are.same({}, r1.hits, r1.all)
      local r2 = run(code, { limits = { maxDepth = 10000 } })
      assert.are.same({ "message is not a JSON object", ("nested too deeply at byte %d"):format(#PREFIX + 9999) },
        r2.refused, r2.all)
      assert.are.same({}, r2.hits, r2.all)
    end)

    it("either delivers a message with 500,000 arguments or refuses it naming the renderer, and never crashes", function()
      local r = run([[
send(b'{"k":"send","ch":"hit","args":[' + b",".join([b"7"] * 500000) + b"]}\n")
send(b'{"k":"invoke","ch":"hit","id":1,"args":[' + b",".join([b"7"] * 500000) + b"]}\n")
send(b'{"k":"invoke","ch":"add","id":2,"args":[1,2]}\n')
results([2])
# Whatever became of id 1, it is not pending any more: it may be reused.
send(b'{"k":"invoke","ch":"add","id":1,"args":[2,2]}\n')
send(b'{"k":"invoke","ch":"add","id":3,"args":[2,2]}\n')
results([3])
]])
      -- Each of the two is delivered (main prints "hit 500000 ...", and
      -- the invoke is answered ["hit"]) or refused (a refused line; the
      -- invoke then gets an error result or none). Then the host goes on.
      local delivered = 0
      for _, h in ipairs(r.hits) do
        if h == " 500000 int:7 int:7 int:7 int:7 int:7" then delivered = delivered + 1 end
      end
      assert.are.equal(2 - delivered, #r.refused, r.all)
      local tail = { table.unpack(r.evil, #r.evil - 2) }
      assert.are.same({ "result 2 args [3]", "result 1 args [4]", "result 3 args [4]" }, tail, r.all)
      if #r.evil == 4 then assert.matches("^result 1 ", r.evil[1]) end
      if delivered == 2 then assert.are.same('result 1 args ["hit"]', r.evil[1], r.all) end
    end)
  end)

  describe("framing", function()
    -- A renderer that exits without reading what the host sent it (here,
    -- the hello) resets the socket instead of closing it cleanly; the
    -- outcome must be the same.
    for _, variant in ipairs({
      { what = "after reading everything the host sent", code = "read_line()\n" },
      { what = "without reading what the host sent", code = "" },
    }) do
      it("gets a last line without a newline ignored and logged with its size when it exits " .. variant.what, function()
        local tail = PREFIX .. '["tail"]}'
        local r = run(variant.code .. send_lines({ PREFIX .. '["first"]}' }) .. "send(" .. py(tail) .. ")\n")
        assert.are.same({}, r.refused, r.all)
        assert.are.same({ ' 1 str:first' }, r.hits, r.all)
        assert_line(r.stderr, ("mainhost: renderer 'evil' (id %d): its last message had no newline before the "
          .. "channel closed; ignored (%d bytes)"):format(r.id, #tail), r.all)
      end)
    end

    it("is disconnected and logged when a line grows past limits.maxMessageBytes, and its complete lines before are handled", function()
      local r = run(send_lines({ PREFIX .. '["before"]}' }) .. [[
send(b'{"k":"send","ch":"hit","args":["' + b"x" * 100000)
say("then", wait_end())
]], { limits = { maxMessageBytes = 4096 } })
      assert.are.same({}, r.refused, r.all)
      assert.are.same({ ' 1 str:before' }, r.hits, r.all)
      assert_line(r.stderr, ("mainhost: renderer 'evil' (id %d): a message was longer than the limit (4096 bytes); "
        .. "disconnected"):format(r.id), r.all)
      assert.are.equal(1, #r.evil, r.all)
      assert.matches("^then %a+$", r.evil[1])
      assert_line(r.stdout, "main: evil gone clean-exit 0", r.all)
    end)

    -- Deterministic: main holds the host's loop (blocked on a FIFO that
    -- evil opens) while evil fills the socket with one oversized line as far
    -- as the kernel takes it (about 2 MiB), then evil stops writing and
    -- lets main go. A host that stops at the limit leaves most of it unread,
    -- so evil's socket is reset (ECONNRESET); a host that reads on until
    -- the socket is empty before it checks the limit leaves nothing unread,
    -- and evil sees a clean EOF.
    it("stops reading a line once it is past limits.maxMessageBytes, leaving the rest of the line unread", function()
      local r = run([[
gate = os.path.abspath("gate")
os.mkfifo(gate)
send(b'{"k":"send","ch":"gate","args":[' + json.dumps(gate).encode() + b']}\n')
g = open(gate, "wb")  # returns once main is blocked reading it: the host's loop is held
os.set_blocking(FD, False)
filled = 0
piece = b'{"k":"send","ch":"hit","args":["' + b"x" * 65536
try:
    while True:
        filled += os.write(FD, piece if filled == 0 else b"x" * 65536)
except BlockingIOError:
    pass
os.set_blocking(FD, True)
say("filled", filled)
g.close()  # main goes on; the host reads
say("then", wait_end())
]], {
        limits = { maxMessageBytes = 4096 },
        main = [[
ipc.on("gate", function(_, path)
  local f = assert(io.open(path, "rb"))
  f:read("a")
  f:close()
end)
]],
      })
      assert_line(r.stderr, ("mainhost: renderer 'evil' (id %d): a message was longer than the limit (4096 bytes); "
        .. "disconnected"):format(r.id), r.all)
      local filled = tonumber((r.evil[1] or ""):match("^filled (%d+)$"))
      assert(filled and filled > 1024 * 1024, "evil could not fill the socket past 1 MiB\n" .. r.all)
      assert.are.equal("then reset", r.evil[2],
        "the host read all " .. filled .. " bytes of a line limited to 4096 before it disconnected\n" .. r.all)
    end)

    it("gets Node's internal {\"cmd\":\"NODE_...\"} messages ignored silently", function()
      local r = run(send_lines({
        '{"cmd":"NODE_HANDLE_ACK"}',
        '{"cmd":"NODE_HANDLE_NACK"}',
        '{"cmd":"NODE_HANDLE","msg":{"cmd":"NODE_HANDLE_ACK"},"type":"net.Socket"}',
        '{"cmd":"NODE_X","k":"send","ch":"hit","args":[1]}',
        '{"cmd":"NOT_NODE","k":"send","ch":"hit","args":["not ignored"]}',
      }))
      assert.are.same({}, r.refused, r.all)
      assert.are.same({ " 1 str:not\\x20ignored" }, r.hits, r.all)
      assert.is_nil(r.stderr:find("'evil'", 1, true), r.all)
    end)

    it("gets a {\"cmd\":\"NODE_...\"} message ignored whatever its other fields and their order", function()
      local r = run(send_lines({
        '{"k":"bogus","cmd":"NODE_HANDLE_ACK"}',
        '{"cmd":"NODE_HANDLE_ACK","k":"bogus"}',
        '{"k":"result","cmd":"NODE_HANDLE_ACK"}',
        '{"cmd":"NODE_HANDLE_ACK","k":"send"}',
      }))
      assert.are.same({}, r.refused, r.all)
      assert.are.same({}, r.hits, r.all)
    end)
  end)

  describe("that never reads", function()
    it("makes webContents.send return false and the host log that it is not reading, with the host's memory bounded", function()
      local r = run([[
send(b'{"k":"send","ch":"flood-me","args":[]}\n')
# Never read: wait for the host to hang up (poll reports POLLHUP with no events asked).
p = select.poll()
p.register(FD, 0)
p.poll()
say("hung up")
]], {
        limits = { maxQueuedBytes = 1048576 },
        main = [[
ipc.on("flood-me", function(e)
  local chunk = ("x"):rep(65536)
  local falses, first_false = 0, nil
  for i = 1, 4096 do -- 256 MiB if nothing were dropped
    if not e.sender.send("flood", chunk) then
      falses = falses + 1
      first_false = first_false or i
    end
  end
  local f = assert(io.open("/proc/self/status"))
  local rss = tonumber(f:read("a"):match("VmRSS:%s*(%d+) kB"))
  f:close()
  print("main: first false at " .. tostring(first_false) .. ", falses " .. falses)
  print("main: rss_kb " .. rss)
  evil_over()
end)
]],
      })
      local first, falses = r.stdout:match("main: first false at (%d+), falses (%d+)")
      assert(first, "webContents.send never returned false\n" .. r.all)
      assert.are.equal(4096 - tonumber(first) + 1, tonumber(falses), r.all)
      local rss = tonumber(r.stdout:match("main: rss_kb (%d+)"))
      assert(rss < 64 * 1024, "the host's RSS grew to " .. rss .. " kB\n" .. r.all)
      local logged = lines_from(r.stderr, ("mainhost: renderer 'evil' (id %d) is not reading: "):format(r.id))
      assert.are.equal(1, #logged, r.all)
      assert.matches("^%d+ bytes queued %(limit 1048576%); messages to it are dropped until it catches up$", logged[1])
      assert.are.same({}, r.refused, r.all)
      assert.are.same({ "hung up" }, r.evil, r.all)
    end)
  end)
end)
