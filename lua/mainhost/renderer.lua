-- mainhost.renderer: the renderer side of IPC for Lua renderers (run by
-- `mainhost --renderer SCRIPT`): ipcRenderer with Electron's methods, one
-- per frame, on top of the C transport "mainhost.channel".
local ok, channel = pcall(require, "mainhost.channel")
if not ok then
  error("require('mainhost.renderer') works only in a renderer started by mainhost "
    .. "(`mainhost --renderer SCRIPT.lua`, or a config's \"script\" entry)", 2)
end
local runner = require("mainhost.runner")

local M = {}

local yield, running, isyieldable, resume = coroutine.yield, coroutine.running, coroutine.isyieldable, coroutine.resume
local select, type, error = select, type, error

local REPLY = setmetatable({}, { __name = "mainhost.renderer.reply" })
local pending = {} -- invoke id -> { co, ch }
local next_id = 0
local frames = {} -- frame id -> frame
local next_frame = 1

M.id = tonumber(os.getenv("MAINHOST_RENDERER_ID")) -- this renderer's webContents id
M.name = os.getenv("MAINHOST_RENDERER_NAME")        -- its name in the config

local function check_channel(ch, fname)
  if type(ch) ~= "string" then
    error(("bad argument #1 to '%s' (channel must be a string, got %s)"):format(fname, type(ch)), 3)
  end
end

-- Node EventEmitter semantics: registration order, the same function may be
-- added twice, once-listeners retire before they run, and an emit works on
-- a snapshot.
local function new_emitter(obj)
  local lists, order = {}, {}

  local function add(ch, fn, once, prepend, fname)
    check_channel(ch, fname)
    if type(fn) ~= "function" then
      error(("bad argument #2 to '%s' (function expected, got %s)"):format(fname, type(fn)), 3)
    end
    local l = lists[ch]
    if not l then
      l = {}
      lists[ch] = l
      order[#order + 1] = ch
    end
    local entry = { fn = fn, once = once }
    if prepend then table.insert(l, 1, entry) else l[#l + 1] = entry end
    return obj
  end

  local function drop_channel(ch)
    lists[ch] = nil
    for i = #order, 1, -1 do
      if order[i] == ch then table.remove(order, i) break end
    end
  end

  local function remove_entry(ch, entry)
    local l = lists[ch]
    if not l then return end
    for i = #l, 1, -1 do
      if l[i] == entry then table.remove(l, i) break end
    end
    if #l == 0 then drop_channel(ch) end
  end

  local e = {}
  function e.on(ch, fn) return add(ch, fn, false, false, "on") end
  e.addListener = e.on
  function e.once(ch, fn) return add(ch, fn, true, false, "once") end
  function e.prependListener(ch, fn) return add(ch, fn, false, true, "prependListener") end
  function e.prependOnceListener(ch, fn) return add(ch, fn, true, true, "prependOnceListener") end
  function e.removeListener(ch, fn)
    local l = lists[ch]
    if l then
      for i = #l, 1, -1 do
        if l[i].fn == fn then
          remove_entry(ch, l[i])
          break
        end
      end
    end
    return obj
  end
  e.off = e.removeListener
  function e.removeAllListeners(ch)
    if ch == nil then
      lists, order = {}, {}
    elseif lists[ch] then
      drop_channel(ch)
    end
    return obj
  end
  function e.listenerCount(ch)
    local l = lists[ch]
    return l and #l or 0
  end
  function e.listeners(ch)
    local out = {}
    for i, entry in ipairs(lists[ch] or {}) do out[i] = entry.fn end
    return out
  end
  function e.eventNames()
    return { table.unpack(order) }
  end
  -- Internal: calls the listeners of ch with (event, ...).
  function e._emit(ch, event, ...)
    local l = lists[ch]
    if not l then return false end
    local snap = { table.unpack(l) }
    for _, entry in ipairs(snap) do
      if entry.once then remove_entry(ch, entry) end
    end
    local label = "listener for '" .. ch .. "'"
    for _, entry in ipairs(snap) do
      runner.run(entry.fn, label, event, ...)
    end
    return true
  end
  return e
end

-- Lets every method be called as ipcRenderer.send(...) or ipcRenderer:send(...).
local function bind_methods(obj, methods)
  for name, f in pairs(methods) do
    if name:sub(1, 1) ~= "_" then
      obj[name] = function(a, ...)
        if a == obj then return f(...) end
        return f(a, ...)
      end
    end
  end
end

-- Waits for the reply to request id: in a coroutine by yielding (others go
-- on meanwhile), elsewhere by blocking on the socket.
local function await_reply(id, ch)
  local co, main = running()
  if main or not isyieldable() then
    return channel.wait(id)
  end
  pending[id] = { co = co, ch = ch }
  local function again(key, ...)
    if key ~= REPLY then return again(yield()) end -- a resume that is not ours
    return ...
  end
  return again(yield())
end

local function raise_if(prefix, err, ...)
  if err ~= nil then error(prefix .. err, 0) end
  return ...
end

local function new_ipc_renderer(frame_id)
  local obj = {}
  local em = new_emitter(obj)
  local methods = {}
  for k, v in pairs(em) do methods[k] = v end

  function methods.send(ch, ...)
    check_channel(ch, "send")
    channel.send("send", ch, nil, frame_id, ...)
  end

  function methods.sendSync(ch, ...)
    check_channel(ch, "sendSync")
    next_id = next_id + 1
    local id = next_id
    channel.send("sync", ch, id, frame_id, ...)
    return raise_if(("Error in sendSync for '%s': "):format(ch), channel.wait(id))
  end

  function methods.invoke(ch, ...)
    check_channel(ch, "invoke")
    next_id = next_id + 1
    local id = next_id
    channel.send("invoke", ch, id, frame_id, ...)
    return raise_if(("Error invoking remote method '%s': "):format(ch), await_reply(id, ch))
  end

  bind_methods(obj, methods)
  obj._emit = em._emit
  return setmetatable(obj, { __name = "mainhost.IpcRenderer" })
end

local function new_frame()
  local id = next_frame
  next_frame = next_frame + 1
  local frame = { id = id, ipcRenderer = new_ipc_renderer(id) }
  frames[id] = frame
  --- Closes the frame: messages to it are dropped from now on.
  function frame.close()
    frames[id] = nil
  end
  return frame
end

local main_frame = new_frame()
M.ipcRenderer = main_frame.ipcRenderer
M.frameId = main_frame.id

--- Opens a sub-frame with its own ipcRenderer. Main sees its messages with
--- event.frameId = frame.id, and event.reply reaches this frame only.
---@return table frame { id, ipcRenderer, close }
function M.openFrame()
  return new_frame()
end

M.null = channel.null
M.json = { encode = channel.encode, decode = channel.decode }

channel.set_dispatch(function(kind, id, frame, ch, err, ...)
  if kind == "msg" then
    local f = frames[frame or 1]
    if not f then return end
    local ipc = f.ipcRenderer
    ipc._emit(ch, { sender = ipc, frameId = f.id, ports = {} }, ...)
  elseif kind == "result" then
    local p = pending[id]
    if not p then return end
    pending[id] = nil
    local okr, e = resume(p.co, REPLY, err, ...)
    if not okr then
      io.stderr:write("mainhost: error in a coroutine waiting on invoke('", p.ch, "'): ",
        debug.traceback(p.co, tostring(e)), "\n")
    end
  end
end)

return M
