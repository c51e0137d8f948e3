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
