-- Value fidelity end to end: Lua values cross between a real host and a
-- real Lua renderer in both directions (send, invoke arguments, invoke
-- return values, webContents.send) without changing type, sign or bytes,
-- and what cannot be carried raises in the sender, naming the argument and
-- the path to the bad value, with nothing sent.
local t = require("mainhost.test")
local S = require("support.app")
local assert_line, assert_no_line = S.assert_line, S.assert_no_line

-- Shared by both sides of every app: dump(v) is an exact, readable picture
-- of a value (integer "1" vs float "1.0", "-0.0", strings byte by byte,
-- holes as nil, the null sentinel as null); dumpargs(...) adds the count.
local PRELUDE = [==[
local function dump(v)
  if v == nil then return "nil" end
  if NULL ~= nil and v == NULL then return "null" end
  local mt = math.type(v)
  if mt == "integer" then return string.format("%d", v) end
  if mt == "float" then
    local s = string.format("%.17g", v)
    if not s:find("[.eni]") then s = s .. ".0" end
    return s
  end
  local ty = type(v)
  if ty == "string" then
    return '"' .. v:gsub("[^%w _.,:;!?-]", function(c) return string.format("\\x%02x", c:byte()) end) .. '"'
  elseif ty == "boolean" then
    return tostring(v)
  elseif ty ~= "table" then
    return ty
  end
  local keys, max, array = {}, 0, true
  for k in pairs(v) do
    keys[#keys + 1] = k
    if math.type(k) == "integer" and k >= 1 then
      if k > max then max = k end
    else
      array = false
    end
  end
  if #keys == 0 then return "{}" end
  local out = {}
  if array then
    for i = 1, max do out[i] = dump(v[i]) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  for i, k in ipairs(keys) do
    local kd = type(k) == "string"
        and k:gsub("[^%w_]", function(c) return string.format("\\x%02x", c:byte()) end)
        or "[" .. dump(k) .. "]"
    out[i] = kd .. "=" .. dump(v[k])
  end
  table.sort(out)
  return "{" .. table.concat(out, ",") .. "}"
end
local function dumpargs(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = dump((select(i, ...))) end
  return select("#", ...) .. ": " .. table.concat(out, ", ")
end
local BYTES = {}
for i = 0, 255 do BYTES[#BYTES + 1] = string.char(i) end
BYTES = table.concat(BYTES)
]==]

local MAIN_HEAD = 'local mh = require("mainhost")\nlocal NULL = mh.null\n'
local UI_HEAD = 'local R = require("mainhost.renderer")\nlocal ipcRenderer = R.ipcRenderer\nlocal NULL = R.null\n'

-- Runs an app with a main script and one Lua renderer "ui"; both get the
-- prelude. The main script must quit (every app here quits on "done").
local function app(main, ui)
  local r = t.run_app({
    ["main.lua"] = MAIN_HEAD .. PRELUDE .. main,
    ["ui.lua"] = UI_HEAD .. PRELUDE .. ui,
    ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
  })
  assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
  assert.are.equal(0, r.code, r.stderr)
  return r
end

-- A renderer-side refusal is reported as "[ui] err MSG": the message as
-- lconv.c words it, with at most the position of the user's own call
-- (ui.lua:N:) in front, never a position inside the library.
local function assert_refusal(text, msg, all)
  for _, l in ipairs(t.lines(text)) do
    local rest = l:match("^%[ui%] err (.*)$")
    if rest then
      if rest == msg then return end
      local pos = rest:sub(1, #rest - #msg)
      if rest:sub(-#msg) == msg and pos:match("ui%.lua:%d+: $") then return end
      assert(false, ("expected the error\n  %s\n(optionally after ui.lua:N:), got\n  %s\nin\n%s"):format(msg, rest, all))
    end
  end
  assert(false, "no \"[ui] err\" line in\n" .. all)
end

-- The dump the spec itself computes for a Lua expression (no null in it).
local function expected_dump(expr)
  return assert(load(PRELUDE .. "return dumpargs(" .. expr .. ")"))()
end

-- Each case: an expression list the sender sends, the dump the receiver
-- must print, and a check on the received values `a` (a table.pack).
local cases = {
  {
    what = "integers stay integers and floats stay floats, with -0.0, the integer limits and 1e-300 exact",
    expr = "1, 1.0, -0.0, 0, -7, 2.5, 0.1, math.maxinteger, math.mininteger, 1e-300, "
      .. "-1.7976931348623157e308, 2^53, 2^63",
    dump = "13: 1, 1.0, -0.0, 0, -7, 2.5, 0.10000000000000001, 9223372036854775807, "
      .. "-9223372036854775808, 1e-300, -1.7976931348623157e+308, 9007199254740992.0, 9.2233720368547758e+18",
    check = [[math.type(a[1]) == "integer" and math.type(a[2]) == "float" and a[2] == 1
      and math.type(a[3]) == "float" and 1 / a[3] == -math.huge
      and math.type(a[8]) == "integer" and a[8] == math.maxinteger
      and math.type(a[9]) == "integer" and a[9] == math.mininteger
      and a[10] == 1e-300 and math.type(a[12]) == "float" and math.type(a[13]) == "float"]],
  },
  {
    what = "nested tables, empty tables, booleans and numeric-looking string keys keep their shape",
    expr = [[{a = {b = {c = {1, 2, {x = "y"}}}}, list = {{}, {1, {}}}, flags = {t = true, f = false, s = "", n = 0}},
      {}, {{}}, true, false, {["1"] = "one", ["10"] = "ten"}, "plain"]],
    dump = '7: {a={b={c=[1,2,{x="y"}]}},flags={f=false,n=0,s="",t=true},list=[{},[1,{}]]}, {}, [{}], '
      .. 'true, false, {10="ten",1="one"}, "plain"',
    check = [[a[1].a.b.c[3].x == "y" and a[1].flags.f == false and type(a[2]) == "table" and next(a[2]) == nil
      and a[4] == true and a[5] == false and a[6]["1"] == "one" and a[6][1] == nil]],
  },
  {
    what = "a nil between arguments arrives as a nil argument, and the argument count stays 3",
    expr = "1, nil, 3",
    dump = "3: 1, nil, 3",
    check = [[a.n == 3 and a[1] == 1 and a[2] == nil and a[3] == 3]],
  },
  {
    what = "leading and trailing nil arguments are kept in the argument count",
    expr = "nil, 2, nil",
    dump = "3: nil, 2, nil",
    check = [[a.n == 3 and a[1] == nil and a[2] == 2 and a[3] == nil]],
  },
  {
    what = "arrays with holes keep their holes as nil",
    expr = [[{1, nil, 3}, {nil, "b"}, {[1] = 1, [3] = 3}]],
    dump = '3: [1,nil,3], [nil,"b"], [1,nil,3]',
    check = [[a[1][1] == 1 and a[1][2] == nil and a[1][3] == 3 and a[2][1] == nil and a[2][2] == "b"]],
  },
  {
    what = "the null sentinel inside objects arrives as the receiver's null sentinel",
    expr = [[{a = NULL, b = {c = NULL, d = 1}}]],
    dump = "1: {a=null,b={c=null,d=1}}",
    check = [[a[1].a == NULL and a[1].b.c == NULL and a[1].b.d == 1 and type(NULL) == "userdata"]],
  },
  {
    what = "strings with every byte 0-255, invalid UTF-8 and odd object keys round-trip byte for byte",
    expr = [[BYTES, BYTES:reverse(), "\xed\xb2\x80", "\xf4\x90\x80\x80", "\xc0\x80", "\xe2\x82", "\u{10FFFF}",
      "é€😀", "", "\0", "\\udc80", {["\xff\0key"] = BYTES, [""] = "empty key"}]],
    check = [[a[1] == BYTES and a[2] == BYTES:reverse() and #a[1] == 256 and a[3] == "\xed\xb2\x80"
      and a[10] == "\0" and a[11] == "\\udc80" and a[12]["\xff\0key"] == BYTES and a[12][""] == "empty key"]],
  },
}

-- How each direction sends EXPR and where the receiver reports it.
local directions = {
  {
    how = "from renderer to main through ipcRenderer.send",
    prefix = "",
    main = function(c)
      return 'mh.ipcMain.on("v", function(e, ...) report(...) end)\n'
        .. 'mh.ipcMain.on("done", function() mh.app.quit() end)\n'
    end,
    ui = function(c)
      return 'ipcRenderer.send("v", ' .. c.expr .. ')\nipcRenderer.send("done")\n'
    end,
  },
  {
    how = "from renderer to main as ipcRenderer.invoke arguments",
    prefix = "",
    main = function(c)
      return 'mh.ipcMain.handle("v", function(e, ...) report(...) return true end)\n'
        .. 'mh.ipcMain.on("done", function() mh.app.quit() end)\n'
    end,
    ui = function(c)
      return 'assert(ipcRenderer.invoke("v", ' .. c.expr .. ') == true)\nipcRenderer.send("done")\n'
    end,
  },
  {
    how = "from main to renderer as the return values of a handler",
    prefix = "[ui] ",
    main = function(c)
      return 'mh.ipcMain.handle("v", function() return ' .. c.expr .. ' end)\n'
        .. 'mh.ipcMain.on("done", function() mh.app.quit() end)\n'
    end,
    ui = function(c)
      return 'report(ipcRenderer.invoke("v"))\nipcRenderer.send("done")\n'
    end,
  },
  {
    how = "from main to renderer through webContents.send",
    prefix = "[ui] ",
    main = function(c)
      return 'mh.ipcMain.on("ready", function(e) e.sender.send("v", ' .. c.expr .. ') end)\n'
        .. 'mh.ipcMain.on("done", function() mh.app.quit() end)\n'
    end,
    ui = function(c)
      return 'ipcRenderer.on("v", function(e, ...) report(...) ipcRenderer.send("done") end)\n'
        .. 'ipcRenderer.send("ready")\n'
    end,
  },
}

local function reporter(c)
  return "local function check(a) return " .. c.check .. " end\n"
    .. "local function report(...)\n"
    .. '  print("got " .. dumpargs(...))\n'
    .. '  print("check " .. tostring(check(table.pack(...))))\n'
    .. "end\n"
end

describe("values", function()
  after_each(t.cleanup)

  for _, d in ipairs(directions) do
    describe(d.how, function()
      for _, c in ipairs(cases) do
        it(c.what, function()
          local r = app(reporter(c) .. d.main(c), reporter(c) .. d.ui(c))
          local all = r.stdout .. r.stderr
          assert_line(r.stdout, d.prefix .. "got " .. (c.dump or expected_dump(c.expr)), all)
          assert_line(r.stdout, d.prefix .. "check true", all)
        end)
      end
    end)
  end

  it("a 1 MiB string of every byte value round-trips through invoke and comes back unchanged", function()
    local r = app([[
      local big = string.rep(BYTES, 4096)
      mh.ipcMain.handle("echo", function(e, s)
        print("main: length " .. #s .. ", same " .. tostring(s == big))
        return s
      end)
      mh.ipcMain.on("done", function() mh.app.quit() end)
    ]], [[
      local big = string.rep(BYTES, 4096)
      local back = ipcRenderer.invoke("echo", big)
      print("ui: length " .. #back .. ", same " .. tostring(back == big))
      ipcRenderer.send("done")
    ]])
    assert_line(r.stdout, "main: length 1048576, same true", r.stdout .. r.stderr)
    assert_line(r.stdout, "[ui] ui: length 1048576, same true", r.stdout .. r.stderr)
  end)

  it("a 1 MiB string arrives unchanged through send and through webContents.send", function()
    local r = app([[
      local big = string.rep(BYTES, 4096):reverse()
      mh.ipcMain.on("big", function(e, s)
        print("main: length " .. #s .. ", same " .. tostring(s == big))
        e.sender.send("big", s)
      end)
      mh.ipcMain.on("done", function() mh.app.quit() end)
    ]], [[
      local big = string.rep(BYTES, 4096):reverse()
      ipcRenderer.on("big", function(e, s)
        print("ui: length " .. #s .. ", same " .. tostring(s == big))
        ipcRenderer.send("done")
      end)
      ipcRenderer.send("big", big)
    ]])
    assert_line(r.stdout, "main: length 1048576, same true", r.stdout .. r.stderr)
    assert_line(r.stdout, "[ui] ui: length 1048576, same true", r.stdout .. r.stderr)
  end)

  it("a 10 MiB string and a 100,000-element array round-trip through invoke unchanged", function()
    local r = app([[
      mh.ipcMain.handle("echo", function(e, s, list)
        print("main: string " .. #s .. ", array " .. #list .. ", last " .. list[#list])
        return s, list
      end)
      mh.ipcMain.on("done", function() mh.app.quit() end)
    ]], [[
      local big = string.rep(BYTES, 40960)
      local list = {}
      for i = 1, 100000 do list[i] = (i % 3 == 0) and (i + 0.5) or i end
      local s, back = ipcRenderer.invoke("echo", big, list)
      local same = #back == #list
      for i = 1, #list do
        if back[i] ~= list[i] or math.type(back[i]) ~= math.type(list[i]) then same = false break end
      end
      print("ui: string same " .. tostring(s == big) .. ", array same " .. tostring(same))
      ipcRenderer.send("done")
    ]])
    assert_line(r.stdout, "main: string 10485760, array 100000, last 100000", r.stdout .. r.stderr)
    assert_line(r.stdout, "[ui] ui: string same true, array same true", r.stdout .. r.stderr)
  end)

  -- Refusals in the renderer: SETUP runs first, then send/invoke with ARGS.
  local refusals = {
    { what = "a function deep in a table", setup = "", args = "1, {items = {1, 2, print}}",
      msg = "argument 3 .items[3]: function cannot be sent" },
    { what = "a coroutine", setup = "local co = coroutine.create(print)", args = "co",
      msg = "argument 2: thread cannot be sent" },
    { what = "a table that contains itself", setup = "local cyc = {list = {}}; cyc.list[1] = cyc", args = "cyc",
      msg = "argument 2 .list[1]: table contains itself (a cycle) and cannot be sent" },
    { what = "NaN", setup = "", args = "1, 2, {x = {0/0}}",
      msg = "argument 4 .x[1]: NaN cannot be sent" },
    { what = "math.huge", setup = "", args = "math.huge",
      msg = "argument 2: inf cannot be sent" },
    { what = "-math.huge", setup = "", args = "{n = -math.huge}",
      msg = "argument 2 .n: -inf cannot be sent" },
    { what = "a table mixing array and string keys", setup = "", args = "{1, 2, x = 3}",
      msg = "argument 2: table mixes array and string keys and cannot be sent" },
    { what = "a table with a boolean key", setup = "", args = "{inner = {[true] = 1}}",
      msg = "argument 2 .inner: table with a boolean key cannot be sent (keys are strings or 1..n)" },
  }

  for _, f in ipairs(refusals) do
    it("ipcRenderer.send with " .. f.what .. " raises in the renderer naming argument and path, and sends nothing",
      function()
        local r = app([[
          mh.ipcMain.on("c", function() print("main: got c") end)
          mh.ipcMain.on("after", function(e, x) print("main: got after " .. tostring(x)) end)
          mh.ipcMain.on("done", function() mh.app.quit() end)
        ]], f.setup .. "\n" .. [[
          local ok, err = pcall(ipcRenderer.send, "c", ]] .. f.args .. [[)
          print("ok " .. tostring(ok))
          print("err " .. tostring(err))
          ipcRenderer.send("after", 42)
          ipcRenderer.send("done")
        ]])
        local all = r.stdout .. r.stderr
        assert_line(r.stdout, "[ui] ok false", all)
        assert_refusal(r.stdout, f.msg, all)
        assert_no_line(r.stdout, "main: got c", all)
        -- The channel is intact: the next message goes through whole.
        assert_line(r.stdout, "main: got after 42", all)
      end)
  end

  it("ipcRenderer.invoke with a value that cannot be sent raises in the renderer and the handler never runs",
    function()
      local r = app([[
        mh.ipcMain.handle("c", function() print("main: handler ran") return 1 end)
        mh.ipcMain.handle("ok", function(e, x) return x + 1 end)
        mh.ipcMain.on("done", function() mh.app.quit() end)
      ]], [[
        local ok, err = pcall(ipcRenderer.invoke, "c", "fine", {f = print})
        print("ok " .. tostring(ok))
        print("err " .. tostring(err))
        print("next " .. ipcRenderer.invoke("ok", 1))
        ipcRenderer.send("done")
      ]])
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "[ui] ok false", all)
      assert_refusal(r.stdout, "argument 3 .f: function cannot be sent", all)
      assert_no_line(r.stdout, "main: handler ran", all)
      assert_line(r.stdout, "[ui] next 2", all)
    end)

  it("webContents.send with a function raises in main naming argument and path, and the renderer gets nothing",
    function()
      local r = app([[
        mh.ipcMain.on("ready", function(e)
          local ok, err = pcall(e.sender.send, "c", 1, {list = {1, print}})
          print("ok " .. tostring(ok))
          print("err " .. tostring(err))
          e.sender.send("after", 42)
        end)
        mh.ipcMain.on("done", function() mh.app.quit() end)
      ]], [[
        ipcRenderer.on("c", function() print("ui: got c") end)
        ipcRenderer.on("after", function(e, x)
          print("ui: got after " .. tostring(x))
          ipcRenderer.send("done")
        end)
        ipcRenderer.send("ready")
      ]])
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "ok false", all)
      assert_line(r.stdout, "err argument 3 .list[2]: function cannot be sent", all)
      assert_no_line(r.stdout, "[ui] ui: got c", all)
      assert_line(r.stdout, "[ui] ui: got after 42", all)
    end)

  it("webContents.send with NaN, a cycle or a boolean key raises in main and the renderer gets none of them",
    function()
      local r = app([[
        mh.ipcMain.on("ready", function(e)
          local cyc = {}
          cyc.me = cyc
          for _, v in ipairs({ {0/0}, cyc, {[false] = 1}, {1, x = 2}, math.huge }) do
            local ok, err = pcall(e.sender.send, "c", v)
            print("err " .. tostring(err))
          end
          e.sender.send("after")
        end)
        mh.ipcMain.on("done", function() mh.app.quit() end)
      ]], [[
        ipcRenderer.on("c", function() print("ui: got c") end)
        ipcRenderer.on("after", function() ipcRenderer.send("done") end)
        ipcRenderer.send("ready")
      ]])
      local all = r.stdout .. r.stderr
      assert_line(r.stdout, "err argument 2 [1]: NaN cannot be sent", all)
      assert_line(r.stdout, "err argument 2 .me: table contains itself (a cycle) and cannot be sent", all)
      assert_line(r.stdout, "err argument 2: table with a boolean key cannot be sent (keys are strings or 1..n)", all)
      assert_line(r.stdout, "err argument 2: table mixes array and string keys and cannot be sent", all)
      assert_line(r.stdout, "err argument 2: inf cannot be sent", all)
      assert_no_line(r.stdout, "[ui] ui: got c", all)
    end)

  it("event.reply with a coroutine raises in main and the renderer gets nothing", function()
    local r = app([[
      mh.ipcMain.on("ready", function(e)
        local ok, err = pcall(e.reply, "c", coroutine.create(print))
        print("err " .. tostring(err))
        e.reply("after")
      end)
      mh.ipcMain.on("done", function() mh.app.quit() end)
    ]], [[
      ipcRenderer.on("c", function() print("ui: got c") end)
      ipcRenderer.on("after", function() ipcRenderer.send("done") end)
      ipcRenderer.send("ready")
    ]])
    local all = r.stdout .. r.stderr
    assert_line(r.stdout, "err argument 2: thread cannot be sent", all)
    assert_no_line(r.stdout, "[ui] ui: got c", all)
  end)

  it("a handler returning a function rejects the invoke with the reason, and main logs it", function()
    local r = app([[
      mh.ipcMain.handle("x", function() return print end)
      mh.ipcMain.handle("y", function() return 1, {k = {coroutine.create(print)}} end)
      mh.ipcMain.on("done", function() mh.app.quit() end)
    ]], [[
      local ok, err = pcall(ipcRenderer.invoke, "x")
      print("ok " .. tostring(ok))
      print("err " .. tostring(err))
      ok, err = pcall(ipcRenderer.invoke, "y")
      print("err " .. tostring(err))
      ipcRenderer.send("done")
    ]])
    local all = r.stdout .. r.stderr
    assert_line(r.stdout, "[ui] ok false", all)
    assert_line(r.stdout, "[ui] err Error invoking remote method 'x': Error: return value 1: function cannot be sent", all)
    assert_line(r.stdout,
      "[ui] err Error invoking remote method 'y': Error: return value 2 .k[1]: thread cannot be sent", all)
    assert.matches("Error occurred in handler for 'x': return value 1: function cannot be sent", r.stderr, 1, true)
  end)

  it("event.returnValue that cannot be sent raises in main and a later good value still answers", function()
    local r = app([[
      mh.ipcMain.on("sync", function(e)
        local ok, err = pcall(function() e.returnValue = {f = print} end)
        print("ok " .. tostring(ok))
        print("err " .. tostring(err))
        e.returnValue = "fine"
      end)
      mh.ipcMain.on("done", function() mh.app.quit() end)
    ]], [[
      print("ui: got " .. ipcRenderer.sendSync("sync"))
      ipcRenderer.send("done")
    ]])
    local all = r.stdout .. r.stderr
    assert_line(r.stdout, "ok false", all)
    assert.matches("\nerr [^\n]*returnValue[^\n]* %.f: function cannot be sent\n", "\n" .. r.stdout, nil)
    assert_line(r.stdout, "[ui] ui: got fine", all)
  end)
end)
