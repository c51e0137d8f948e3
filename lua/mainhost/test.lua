-- mainhost.test: helpers for busted specs. Real-process mode: write an app
-- (main script, renderers, config) into a temporary directory, run the real
-- `mainhost` on it, and get back its exit code and output. Works in any
-- Lua 5.4 with luv (Debian's lua-luv), e.g. under `mainhost test`.
local uv = require("luv")

local M = {}

--- The mainhost executable the specs run (MAINHOST_BIN, set by `mainhost test`).
M.bin = os.getenv("MAINHOST_BIN") or "mainhost"

local tmpdirs = {}

--- A new empty directory under the system's temp dir, removed by M.cleanup().
---@return string
function M.tempdir()
  local base = os.getenv("TMPDIR") or "/tmp"
  local dir = assert(uv.fs_mkdtemp(base .. "/mainhost-spec-XXXXXX"))
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

local function rmtree(path)
  local st = uv.fs_lstat(path)
  if not st then return end
  if st.type == "directory" then
    local it = uv.fs_scandir(path)
    while it do
      local name = uv.fs_scandir_next(it)
      if not name then break end
      rmtree(path .. "/" .. name)
    end
    uv.fs_rmdir(path)
  else
    uv.fs_unlink(path)
  end
end

--- Removes every directory made by tempdir().
function M.cleanup()
  for _, d in ipairs(tmpdirs) do rmtree(d) end
  tmpdirs = {}
end

-- A small JSON encoder for configs written from Lua tables in specs
-- (arrays are tables with [1]; an empty table is {}).
local function encode(v, out)
  local t = type(v)
  if t == "table" then
    if rawget(v, 1) ~= nil then
      out[#out + 1] = "["
      for i, x in ipairs(v) do
        if i > 1 then out[#out + 1] = "," end
        encode(x, out)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        encode(tostring(k), out)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  else
    out[#out + 1] = tostring(v)
  end
end

--- Encodes a Lua table as JSON (for configs).
function M.to_json(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

--- Writes files into dir: { ["main.lua"] = "source", ["mainhost.json"] = {table or string} }.
function M.write(dir, files)
  for name, content in pairs(files) do
    local path = dir .. "/" .. name
    local parent = path:match("^(.*)/[^/]*$")
    if parent and parent ~= dir then
      local acc = ""
      for part in parent:gmatch("[^/]+") do
        acc = acc .. "/" .. part
        uv.fs_mkdir(acc, 493)
      end
    end
    if type(content) == "table" then content = M.to_json(content) end
    local f = assert(io.open(path, "wb"))
    f:write(content)
    f:close()
  end
  return dir
end

--- Runs a command and collects its output.
--- opts: { cmd = {argv...}, timeout = ms (a guard against hangs, default 30000),
---         env = {"K=V", ...} (added), cwd = dir, on_start = function(pid), stdin = string }
--- Returns { code, signal, stdout, stderr, timed_out, pid }.
function M.exec(opts)
  local cmd = opts.cmd
  local stdout, stderr = uv.new_pipe(false), uv.new_pipe(false)
  local stdin = opts.stdin and uv.new_pipe(false) or nil
  local out, err = {}, {}
  local result = { timed_out = false }
  local env
  if opts.env then
    env = {}
    for k, v in pairs(uv.os_environ()) do env[#env + 1] = k .. "=" .. v end
    for _, kv in ipairs(opts.env) do env[#env + 1] = kv end
  end
  local open = 3
  local function closed() open = open - 1 end
  local args = {}
  for i = 2, #cmd do args[#args + 1] = cmd[i] end
  local handle, pid
  handle, pid = uv.spawn(cmd[1], {
    args = args,
    stdio = { stdin, stdout, stderr },
    env = env,
    cwd = opts.cwd,
  }, function(code, signal)
    result.code, result.signal = code, signal
    handle:close(closed)
  end)
  if not handle then
    stdout:close()
    stderr:close()
    error("cannot start " .. tostring(cmd[1]) .. ": " .. tostring(pid))
  end
  result.pid = pid
  local function reader(buf, pipe)
    return function(e, data)
      if data then buf[#buf + 1] = data else pipe:close(closed) end
    end
  end
  stdout:read_start(reader(out, stdout))
  stderr:read_start(reader(err, stderr))
  if stdin then
    stdin:write(opts.stdin)
    stdin:shutdown(function() stdin:close() end)
  end
  local timer = uv.new_timer()
  timer:start(opts.timeout or 30000, 0, function()
    result.timed_out = true
    uv.kill(pid, "sigkill")
  end)
  if opts.on_start then opts.on_start(pid) end
  while open > 0 do uv.run("once") end
  timer:stop()
  timer:close()
  uv.run("nowait")
  if result.timed_out then result.code = 124 end -- as timeout(1) says it: never a pass
  result.stdout = table.concat(out)
  result.stderr = table.concat(err)
  -- Under the sanitizer build a report anywhere (host or renderer) fails
  -- the spec, whatever else it checks.
  for _, marker in ipairs({ "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: " }) do
    if result.stderr:find(marker, 1, true) then
      error("sanitizer report in the output of " .. table.concat(cmd, " ") .. ":\n" .. result.stderr, 2)
    end
  end
  return result
end

--- Writes files into a new temp dir and runs `mainhost DIR` on it.
--- Returns the exec result plus .dir.
function M.run_app(files, opts)
  opts = opts or {}
  local dir = M.write(M.tempdir(), files)
  local r = M.exec({ cmd = { M.bin, opts.app or dir }, timeout = opts.timeout, env = opts.env, cwd = opts.cwd,
    on_start = opts.on_start })
  r.dir = dir
  return r
end

--- Lines of text as a list (without the newlines).
function M.lines(s)
  local t = {}
  for l in (s or ""):gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

-- ---- in-process mode (under `mainhost test`) -------------------------------------

local testhost_mod
local function testhost()
  if not testhost_mod then
    local ok, th = pcall(require, "mainhost.testhost")
    if not ok then
      error("in-process renderers need the specs to run under `mainhost test` (busted inside the host)", 3)
    end
    testhost_mod = th
  end
  return testhost_mod
end

local fakes = {}

local Renderer = {}
Renderer.__index = Renderer

local function encode_args(...)
  local json = require("mainhost").json
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    local ok, text = pcall(json.encode, v)
    if not ok then
      -- "value .f: ..." from json.encode becomes "argument 2 .f: ...", as the runtimes say it
      local msg = tostring(text):gsub("^value", "")
      error(("argument %d%s"):format(i + 1, msg), 4)
    end
    parts[i] = text
  end
  return table.concat(parts, ",")
end

local function line(kind, ch, id, ...)
  local json = require("mainhost").json
  return ('{"k":"%s","ch":%s%s,"args":[%s]}\n'):format(kind, json.encode(ch),
    id and (',"id":' .. id) or "", encode_args(...))
end

-- Reads what the host wrote: results by id, messages in order.
function Renderer:_drain()
  local th = testhost()
  for _, l in ipairs(self._fake:lines()) do
    local res = table.pack(th.decode(l))
    local kind = res[1]
    if kind == "result" then
      self._results[res[2]] = res
    elseif kind == "msg" then
      local args = table.pack(table.unpack(res, 6, res.n))
      self.messages[#self.messages + 1] = { channel = res[4], args = args, frame = res[3] or 1 }
    end
  end
end

function Renderer:_await(id, what)
  local th = testhost()
  local deadline = uv.now() + (self.timeout or 10000)
  while true do
    self:_drain()
    local res = self._results[id]
    if res then
      self._results[id] = nil
      return res
    end
    if uv.now() > deadline then error("timed out waiting for the reply to " .. what, 3) end
    th.step(10)
    uv.update_time()
  end
end

--- Sends like ipcRenderer.send and returns once the host has handled it.
function Renderer:send(ch, ...)
  self._fake:write(line("send", ch, nil, ...))
  testhost().settle(self._fake)
  self:_drain()
end

--- Like ipcRenderer.invoke: the handler's return values, or an error
--- "Error invoking remote method 'ch': ...".
function Renderer:invoke(ch, ...)
  self._next = self._next + 1
  local id = self._next
  self._fake:write(line("invoke", ch, id, ...))
  local res = self:_await(id, ("invoke('%s')"):format(ch))
  if res[5] ~= nil then error(("Error invoking remote method '%s': %s"):format(ch, res[5]), 2) end
  return table.unpack(res, 6, res.n)
end

--- Like ipcRenderer.sendSync: the value main set as event.returnValue.
function Renderer:sendSync(ch, ...)
  self._next = self._next + 1
  local id = self._next
  self._fake:write(line("sync", ch, id, ...))
  local res = self:_await(id, ("sendSync('%s')"):format(ch))
  if res[5] ~= nil then error(("Error in sendSync for '%s': %s"):format(ch, res[5]), 2) end
  return res[6]
end

--- Messages main sent to this renderer so far ({channel, args, frame}),
--- all of them or those on one channel. Turns the loop once first.
function Renderer:received(ch)
  -- Until the host holds nothing more for us (a large reply may take
  -- several turns of the loop).
  local th = testhost()
  th.step(0)
  self:_drain()
  for _ = 1, 10000 do
    if th.queued(self._fake) == 0 then break end
    th.step(1)
    self:_drain()
  end
  if not ch then return self.messages end
  local out = {}
  for _, m in ipairs(self.messages) do
    if m.channel == ch then out[#out + 1] = m end
  end
  return out
end

--- Closes the renderer's end: main sees it gone (render-process-gone).
function Renderer:close()
  if self._fake then
    self._fake:close()
    testhost().step(0)
    testhost().step(0)
  end
end

--- An in-process renderer attached to this test host: main sees a
--- webContents (r.webContents) and every message goes through the real
--- codec and dispatch. Needs `mainhost test`.
---@param opts? { name?: string }
function M.renderer(opts)
  opts = opts or {}
  local fake, wc = testhost().attach(opts.name or "test")
  local r = setmetatable({ _fake = fake, _next = 0, _results = {}, messages = {},
    webContents = wc, id = wc.id, timeout = opts.timeout }, Renderer)
  fakes[#fakes + 1] = r
  -- Said as a Lua renderer says it: main's did-finish-load runs now.
  fake:write('{"k":"hello","v":1}\n')
  testhost().settle(fake)
  r:_drain()
  return r
end

--- Runs a main script in this test host as `mainhost APP` runs it (its top
--- level in a coroutine), then emits app 'ready'. An error at once is
--- raised here; one after a wait quits with status 1 (see quit_state).
function M.load(path)
  testhost().load(path)
end

--- Turns the host's loop until pred() is true (timers, waiting handlers).
function M.pump(pred, timeout, msg)
  local th = testhost()
  local deadline = uv.now() + (timeout or 10000)
  while not pred() do
    if uv.now() > deadline then error("timed out waiting: " .. (msg or "condition"), 2) end
    th.step(10)
    uv.update_time()
  end
end

--- Whether main asked to quit, and with which code.
function M.quit_state()
  return testhost().quit_state()
end

--- Between cases: closes the in-process renderers, removes every ipcMain
--- listener and handler and every app listener, forgets a quit.
function M.reset()
  for _, r in ipairs(fakes) do r:close() end
  fakes = {}
  local mh = require("mainhost")
  mh.app.removeAllListeners()
  testhost().reset()
end

--- True if process pid exists (and is not a zombie).
function M.alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local s = f:read("a")
  f:close()
  local state = s:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z"
end

--- Waits (running the luv loop) until pred() is true; raises msg after timeout ms.
function M.wait_for(pred, timeout, msg)
  local deadline = uv.now() + (timeout or 10000)
  while not pred() do
    if uv.now() > deadline then error("timed out waiting: " .. (msg or "condition"), 2) end
    local t = uv.new_timer()
    t:start(10, 0, function() t:close() end)
    uv.run("once")
    uv.update_time()
  end
end

return M
