-- Renderers in other languages against a real host: a Node.js script with no
-- library (process.send / process.on('message') only), Node.js scripts using
-- clients/node/ipc-renderer.js (Electron's ipcRenderer), and a stdlib-only
-- Python renderer written from docs/protocol.md alone
-- (spec/fixtures/python_renderer.py).
local t = require("mainhost.test")
local uv = require("luv")

-- The repository root, from this file's path (busted runs specs from the
-- root, but the path it gives may be relative).
local ROOT = (function()
  local src = debug.getinfo(1, "S").source:sub(2)
  local dir = src:match("^(.*)/spec/[^/]+$") or "."
  if dir:sub(1, 1) ~= "/" then dir = uv.cwd() .. "/" .. dir end
  return dir
end)()
local CLIENT = ROOT .. "/clients/node/ipc-renderer.js"
local PYTHON_FIXTURE = ROOT .. "/spec/fixtures/python_renderer.py"

local function have(program)
  return os.execute("command -v " .. program .. " >/dev/null 2>&1") == true
end

-- `it`, or a pending spec saying why when the program is not installed.
local function it_with(program)
  if have(program) then return it end
  return function(description)
    it(description, function()
      pending(program .. " is not installed (not found in PATH), so this renderer cannot run")
    end)
  end
end
local node_it = it_with("node")
local python_it = it_with("python3")

-- Runs an app whose one renderer, "node", is the JavaScript source js (given
-- the client's path in MH_CLIENT), with the main script main.
local function run_node(main, js)
  local r = t.run_app({
    ["mainhost.json"] = {
      main = "main.lua",
      renderers = { { name = "node", command = { "node", "renderer.js" }, env = { MH_CLIENT = CLIENT } } },
    },
    ["main.lua"] = main,
    ["renderer.js"] = js,
  })
  assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
  assert.are.equal(0, r.code, r.stdout .. r.stderr)
  return r
end

local function line_at(text, line)
  for i, l in ipairs(t.lines(text)) do
    if l == line then return i end
  end
end

-- Each line is in the output. Lines from one process keep their order, and so
-- does a line main prints before a message that makes a renderer print; but
-- a renderer's output and main's reach the host on different pipes, so
-- ordered checks only compare lines where one causes the other that way.
local function assert_lines(r, lines)
  local all = r.stdout .. r.stderr
  for _, line in ipairs(lines) do
    assert(line_at(r.stdout, line), ("expected the line\n  %s\nin\n%s"):format(line, all))
  end
end

local function assert_order(r, lines)
  assert_lines(r, lines)
  for i = 2, #lines do
    assert(line_at(r.stdout, lines[i - 1]) < line_at(r.stdout, lines[i]),
      ("expected\n  %s\nbefore\n  %s\nin\n%s"):format(lines[i - 1], lines[i], r.stdout .. r.stderr))
  end
end

-- The main script the client specs share. "log" prints what it got, exactly
-- (count, JSON, number types); the handlers cover every kind of result;
-- "emit" replies n times on a channel, then once on "end"; "done" quits.
local MAIN = [[
local mh = require("mainhost")
local ipcMain = mh.ipcMain

local function types(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    out[i] = math.type(v) or (v == mh.null and "null") or type(v)
  end
  return table.concat(out, ",")
end

ipcMain.on("log", function(e, ...)
  print(("main: log %d %s %s"):format(select("#", ...), mh.json.encode({ ... }), types(...)))
end)
ipcMain.handle("add", function(e, a, b) return a + b end)
ipcMain.handle("pair", function() return "first", "second" end)
ipcMain.handle("nil", function() return nil end)
ipcMain.handle("nothing", function() end)
ipcMain.handle("boom", function() error("boom") end)
ipcMain.handle("empty-error", function() error(setmetatable({}, { __tostring = function() return "" end })) end)
ipcMain.handle("echo", function(e, v) return v end)
ipcMain.handle("raw-bytes", function() return "\xff\xfeA\xc3\xa9" end)
ipcMain.handle("same-bytes", function(e, s) return s == "\xff\xfeA\xc3\xa9" end)
ipcMain.on("emit", function(e, ch, n, ...)
  for i = 1, n do e.reply(ch, i, ...) end
  e.reply("end")
end)
ipcMain.on("done", function() print("main: done") mh.app.quit() end)
]]

-- A renderer script using the client: BODY runs in an async function; what
-- it throws is printed; it sends "done" at the end either way.
local function client_js(body)
  return [[
'use strict';
const { ipcRenderer } = require(process.env.MH_CLIENT);
const ended = () => new Promise((resolve) => ipcRenderer.once('end', resolve));
(async () => {
]] .. body .. [[

})().catch((e) => console.log('uncaught: ' + e.message)).finally(() => ipcRenderer.send('done'));
]]
end

describe("renderers in other languages", function()
  after_each(t.cleanup)

  describe("a Node.js renderer with no library", function()
    node_it("speaks the protocol through process.send and process.on('message') alone", function()
      local r = run_node([[
local mh = require("mainhost")
mh.ipcMain.on("ping", function(e, text)
  print(("main: ping %q from %s (id %d)"):format(text, e.sender.name, e.sender.id))
  e.reply("pong", text:upper())
end)
mh.ipcMain.handle("add", function(e, a, b) return a + b end)
mh.ipcMain.on("done", function() print("main: done") mh.app.quit() end)
]], [[
'use strict';
let nextId = 0;
const pending = new Map();
function invoke(ch, ...args) {
  const id = ++nextId;
  process.send({ k: 'invoke', ch, id, args });
  return new Promise((resolve) => pending.set(id, resolve));
}
process.on('message', async (m) => {
  if (m.k === 'hello') {
    console.log(`host hello: v ${m.v}, id ${m.id}, name ${m.name}`);
  } else if (m.k === 'msg' && m.ch === 'pong') {
    console.log('pong: ' + m.args[0]);
    const sum = await invoke('add', 2, 3);
    console.log('add: ' + JSON.stringify(sum));
    const missing = await invoke('missing');
    console.log('missing: ' + JSON.stringify(missing));
    process.send({ k: 'send', ch: 'done', args: [] });
  } else if (m.k === 'result') {
    pending.get(m.id)(m);
    pending.delete(m.id);
  }
});
process.send({ k: 'hello', v: 1, pid: process.pid });
process.send({ k: 'send', ch: 'ping', args: ['hello from node'] });
]])
      assert_order(r, {
        "[node] host hello: v 1, id 1, name node",
        "[node] pong: HELLO FROM NODE",
        '[node] add: {"k":"result","id":1,"args":[5]}',
        [[[node] missing: {"k":"result","id":2,"error":"Error: No handler registered for 'missing'"}]],
      })
      assert_order(r, { 'main: ping "hello from node" from node (id 1)', "[node] pong: HELLO FROM NODE" })
      assert_lines(r, { "main: done" })
    end)
  end)

  describe("clients/node/ipc-renderer.js", function()
    node_it("delivers send(channel, ...args) to ipcMain listeners with every argument, null and undefined as nil", function()
      local r = run_node(MAIN, client_js([[
  ipcRenderer.send('log', 'text', 7, 1.5, true, null, undefined, [1, null, 3], { a: { b: [] } }, -0);
]]))
      assert_lines(r, {
        'main: log 9 ["text",7,1.5,true,null,null,[1,null,3],{"a":{"b":[]}},0] string,integer,float,boolean,nil,nil,table,table,integer',
        "main: done",
      })
    end)

    node_it("resolves invoke with the handler's return value, and with the first one when the handler returns several", function()
      local r = run_node(MAIN, client_js([[
  console.log('add', JSON.stringify(await ipcRenderer.invoke('add', 2, 3)));
  console.log('pair', JSON.stringify(await ipcRenderer.invoke('pair')));
]]))
      assert_order(r, { "[node] add 5", '[node] pair "first"' })
      assert_lines(r, { "main: done" })
    end)

    node_it("resolves invoke with null when the handler returns nil and with undefined when it returns nothing", function()
      local r = run_node(MAIN, client_js([[
  const a = await ipcRenderer.invoke('nil');
  const b = await ipcRenderer.invoke('nothing');
  console.log('nil gives', a === null ? 'null' : typeof a, '/ nothing gives', typeof b);
]]))
      assert_lines(r, { "[node] nil gives null / nothing gives undefined", "main: done" })
    end)

    node_it("rejects invoke with Electron's message when the handler raises or there is no handler", function()
      local r = run_node(MAIN, client_js([[
  for (const ch of ['boom', 'missing']) {
    try {
      await ipcRenderer.invoke(ch, 1);
      console.log(ch, 'resolved');
    } catch (e) {
      console.log(ch, e instanceof Error ? 'Error:' : 'not an Error:', e.message);
    }
  }
]]))
      assert_lines(r, {
        "[node] boom Error: Error invoking remote method 'boom': Error: boom",
        "[node] missing Error: Error invoking remote method 'missing': Error: No handler registered for 'missing'",
        "main: done",
      })
    end)

    node_it("resolves invoke with undefined when the error text is empty, as Electron does", function()
      local r = run_node(MAIN, client_js([[
  const v = await ipcRenderer.invoke('empty-error');
  console.log('empty error resolved', v === undefined ? 'undefined' : String(v));
]]))
      assert_lines(r, { "[node] empty error resolved undefined", "main: done" })
    end)

    node_it("reports a listener that throws or rejects on stderr, and goes on with the others", function()
      local r = run_node(MAIN, client_js([[
  ipcRenderer.on('tick', () => { throw new Error('listener failed'); });
  ipcRenderer.on('tick', async () => { throw new Error('async listener failed'); });
  ipcRenderer.on('tick', (event, i) => console.log('third listener got', i));
  ipcRenderer.send('emit', 'tick', 2);
  await ended();
  await new Promise((resolve) => setImmediate(resolve));
  console.log('still running');
]]))
      assert_order(r, { "[node] third listener got 1", "[node] third listener got 2", "[node] still running" })
      assert_lines(r, { "main: done" })
      assert.matches("mainhost: listener for 'tick': Error: listener failed", r.stderr, 1, true)
      assert.matches("mainhost: listener for 'tick': Error: async listener failed", r.stderr, 1, true)
    end)

    node_it("passes messages through ipcRenderer.emit when the script replaced it", function()
      local r = run_node(MAIN, client_js([[
  const orig = ipcRenderer.emit;
  ipcRenderer.emit = function (ch, event, ...args) {
    console.log('patched emit saw', ch, 'frame', event.frameId);
    return orig.call(this, ch, event, ...args);
  };
  ipcRenderer.on('tick', (event, i) => console.log('listener got', i));
  ipcRenderer.send('emit', 'tick', 1);
  await ended();
]]))
      assert_order(r, { "[node] patched emit saw tick frame 1", "[node] listener got 1",
        "[node] patched emit saw end frame 1" })
      assert_lines(r, { "main: done" })
    end)

    node_it("refuses a value nested deeper than the host accepts, in the sender, for send and invoke", function()
      local r = run_node(MAIN, client_js([[
  const nest = (n) => { let v = 1; for (let i = 0; i < n; i++) v = [v]; return v; };
  console.log('198 levels:', JSON.stringify(await ipcRenderer.invoke('echo', nest(198))).length);
  try { ipcRenderer.send('log', nest(199)); } catch (e) { console.log('send:', e.message.slice(0, 20), e.message.endsWith('nested too deeply to send')); }
  try { await ipcRenderer.invoke('echo', nest(199)); } catch (e) { console.log('invoke:', e.message.endsWith('nested too deeply to send')); }
]]))
      assert_lines(r, { "[node] 198 levels: " .. (198 * 2 + 1), "[node] send: argument 2 [0][0][0] true",
        "[node] invoke: true", "main: done" })
      assert.is_nil(r.stderr:find("refused a message", 1, true), r.stderr)
    end)

    node_it("calls on listeners with (event, ...args), where event has the sender and the frame id", function()
      local r = run_node(MAIN, client_js([[
  ipcRenderer.on('tick', (event, i, word, nothing) => {
    console.log('tick', i, word, nothing, event.sender === ipcRenderer, event.frameId);
  });
  ipcRenderer.send('emit', 'tick', 2, 'hi', null);
  await ended();
]]))
      assert_order(r, { "[node] tick 1 hi null true 1", "[node] tick 2 hi null true 1" })
      assert_lines(r, { "main: done" })
    end)

    node_it("runs a once listener for the first message only, and on listeners for every one", function()
      local r = run_node(MAIN, client_js([[
  let on = 0, once = 0;
  ipcRenderer.on('tick', () => { on += 1; });
  const same = ipcRenderer.once('tick', () => { once += 1; });
  ipcRenderer.send('emit', 'tick', 3);
  await ended();
  console.log('on ran', on, 'times; once ran', once, 'time; once returns ipcRenderer:', same === ipcRenderer);
]]))
      assert_lines(r, { "[node] on ran 3 times; once ran 1 time; once returns ipcRenderer: true", "main: done" })
    end)

    node_it("removes listeners with off, removeListener and removeAllListeners, as listenerCount shows", function()
      local r = run_node(MAIN, client_js([[
  const calls = [];
  const a = () => calls.push('a'), b = () => calls.push('b'), c = () => calls.push('c');
  ipcRenderer.on('tick', a).on('tick', b).on('tick', c).on('other', a);
  console.log('count', ipcRenderer.listenerCount('tick'));
  ipcRenderer.off('tick', a);
  ipcRenderer.removeListener('tick', b);
  console.log('count', ipcRenderer.listenerCount('tick'));
  ipcRenderer.send('emit', 'tick', 1);
  await ended();
  ipcRenderer.removeAllListeners('tick');
  console.log('count', ipcRenderer.listenerCount('tick'), 'other', ipcRenderer.listenerCount('other'));
  ipcRenderer.send('emit', 'tick', 1);
  await ended();
  console.log('calls', calls.join(','));
]]))
      assert_order(r, { "[node] count 3", "[node] count 1", "[node] count 0 other 1", "[node] calls c" })
      assert_lines(r, { "main: done" })
    end)

    node_it("drops a message on the channel 'error' that nobody listens to instead of throwing", function()
      local r = run_node(MAIN, client_js([[
  ipcRenderer.send('emit', 'error', 1);
  await ended();
  console.log('still here');
]]))
      assert_lines(r, { "[node] still here", "main: done" })
      assert.is_nil(r.stdout:find("uncaught", 1, true), r.stdout)
    end)

    node_it("throws from sendSync, saying that Node cannot block and pointing at invoke", function()
      local r = run_node(MAIN, client_js([[
  try {
    ipcRenderer.sendSync('add', 1, 2);
    console.log('sendSync returned');
  } catch (e) {
    console.log('sendSync threw:', e.message);
  }
]]))
      local got = r.stdout:match("%[node%] sendSync threw: ([^\n]*)")
      assert(got, r.stdout .. r.stderr)
      assert.matches("cannot block", got, 1, true)
      assert.matches("ipcRenderer.invoke(channel, ...args)", got, 1, true)
    end)

    node_it("hands bytes that are not UTF-8 over as lone surrogates, which go back to main unchanged", function()
      local r = run_node(MAIN, client_js([[
  const s = await ipcRenderer.invoke('raw-bytes');
  console.log('code units', [...s].map((ch) => ch.charCodeAt(0).toString(16)).join(' '));
  console.log('main sees the same bytes:', await ipcRenderer.invoke('same-bytes', s));
]]))
      assert_order(r, { "[node] code units dcff dcfe 41 e9", "[node] main sees the same bytes: true" })
      assert_lines(r, { "main: done" })
    end)

    node_it("refuses what JSON cannot carry, naming the argument and the path, and sends nothing", function()
      local r = run_node(MAIN, client_js([[
  const cyclic = {};
  cyclic.self = cyclic;
  const tries = [
    () => ipcRenderer.send('log', 1, [{ f() {} }]),
    () => ipcRenderer.send('log', NaN),
    () => ipcRenderer.send('log', { big: 10n }),
    () => ipcRenderer.send('log', 'a', 'b', new Map(Object.entries({ a: 1 }))),
    () => ipcRenderer.send(42),
  ];
  for (const f of tries) {
    try { f(); console.log('sent'); } catch (e) { console.log('refused:', e.message); }
  }
  await ipcRenderer.invoke('log', { x: cyclic }).then(
    () => console.log('invoke resolved'), (e) => console.log('invoke rejected:', e.message));
  ipcRenderer.send('log', 'only this one');
]]))
      assert_order(r, {
        "[node] refused: argument 3 [0].f: function cannot be sent",
        "[node] refused: argument 2: NaN cannot be sent",
        "[node] refused: argument 2 .big: bigint cannot be sent",
        "[node] refused: argument 4: Map cannot be sent",
        "[node] refused: bad argument #1 to 'send' (channel must be a string, got number)",
        "[node] invoke rejected: argument 2 .x.self: object contains itself (a cycle) and cannot be sent",
      })
      assert_order(r, { 'main: log 1 ["only this one"] string', "main: done" })
      assert.are.equal(1, select(2, r.stdout:gsub("main: log", "")), r.stdout)
    end)
  end)

  describe("a Python renderer written from docs/protocol.md alone", function()
    python_it("checks the hello, sends, invokes, asks synchronously and answers a message, bytes intact", function()
      local r = t.run_app({
        ["mainhost.json"] = {
          main = "main.lua",
          renderers = { { name = "py", command = { "python3", PYTHON_FIXTURE } } },
        },
        ["main.lua"] = [[
local mh = require("mainhost")
mh.ipcMain.on("greet", function(e, text, bytes)
  print(("main: %s, bytes intact: %s"):format(text, tostring(bytes == "\xff\xfe")))
  e.reply("question", "what is 6 * 7?", "\x80\xc3\xa9")
end)
mh.ipcMain.handle("add", function(e, a, b) return a + b end)
mh.ipcMain.on("name", function(e) e.returnValue = "main" end)
mh.ipcMain.on("answer", function(e, n)
  print(("main: the answer is the %s %s"):format(math.type(n), tostring(n)))
  mh.app.quit()
end)
]],
      })
      assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
      assert.are.equal(0, r.code, r.stdout .. r.stderr)
      assert_order(r, {
        "[py] 2 + 3 = 5",
        "[py] invoke failed: Error invoking remote method 'missing': Error: No handler registered for 'missing'",
        "[py] main's name is main",
        [[[py] question: what is 6 * 7? b'\x80\xc3\xa9']],
      })
      assert_order(r, { "main: hello from python, bytes intact: true", "[py] 2 + 3 = 5" })
      assert_lines(r, { "main: the answer is the integer 42" })
    end)
  end)
end)
