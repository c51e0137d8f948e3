-- mainhost.renderer: the renderer side of IPC for Lua renderers (run by
-- `mainhost --renderer SCRIPT`): ipcRenderer with Electron's methods, one
-- per frame, on top of the C transport "mainhost.channel".
local ok, channel = pcall(require, "mainhost.channel")
if not ok then
  error("require('mainhost.renderer') works only in a renderer started by mainhost "
    .. "(`mainhost --renderer SCRIPT.lua`, or a config's \"script\" entry)", 2)
end
local emitter = require("mainhost.emitter")

local M = {}

-- The runner's running() does not mark the coroutine as kept by user code:
-- an invoke's coroutine is resumed by us, never by a stale callback.
local running = require("mainhost.runner").running
local yield, isyieldable, resume = coroutine.yield, coroutine.isyieldable, coroutine.resume
local select, type, error = select, type, error

local REPLY = setmetatable({}, { __name = "mainhost.renderer.reply" })
local pending = {} -- invoke id -> the coroutine waiting for its reply
local pending_ch = {} -- invoke id -> its channel (for error reports)
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

-- Waits for the reply to request id: in a coroutine by yielding (others go
-- on meanwhile), elsewhere by blocking on the socket.
local function again(key, ...)
  if key ~= REPLY then return again(yield()) end -- a resume that is not ours
  return ...
end

local function await_reply(id, ch)
  local co, main = running()
  if main or not isyieldable() then
    return channel.wait(id)
  end
  pending[id] = co
  pending_ch[id] = ch
  return again(yield())
end

-- The message is only formatted when there is an error to raise.
local function raise_if(fmt, ch, err, ...)
  if err ~= nil then error(fmt:format(ch) .. err, 0) end
  return ...
end

local function new_ipc_renderer(frame_id)
  local obj = emitter.mixin({})
  local methods = {}

  function methods.send(ch, ...)
    check_channel(ch, "send")
    channel.send("send", ch, nil, frame_id, ...)
  end

  function methods.sendSync(ch, ...)
    check_channel(ch, "sendSync")
    next_id = next_id + 1
    local id = next_id
    channel.send("sync", ch, id, frame_id, ...)
    return raise_if("Error in sendSync for '%s': ", ch, channel.wait(id))
  end

  function methods.invoke(ch, ...)
    check_channel(ch, "invoke")
    next_id = next_id + 1
    local id = next_id
    channel.send("invoke", ch, id, frame_id, ...)
    return raise_if("Error invoking remote method '%s': ", ch, await_reply(id, ch))
  end

  -- Callable as ipcRenderer.send(...) or ipcRenderer:send(...).
  emitter.bind(obj, methods)
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

-- Replies to invokes that wait in coroutines are resumed by the channel
-- itself (the "result" branch below is for anything it leaves to us).
channel.set_waiters(pending, pending_ch, REPLY)

channel.set_dispatch(function(kind, id, frame, ch, err, ...)
  if kind == "msg" then
    local f = frames[frame or 1]
    if not f then return end
    local ipc = f.ipcRenderer
    ipc.emit(ch, { sender = ipc, frameId = f.id, ports = {} }, ...)
  elseif kind == "result" then
    local co = pending[id]
    if not co then return end
    local ch = pending_ch[id]
    pending[id], pending_ch[id] = nil, nil
    local okr, e = resume(co, REPLY, err, ...)
    if not okr then
      io.stderr:write("mainhost: error in a coroutine waiting on invoke('", ch, "'): ",
        debug.traceback(co, tostring(e)), "\n")
    end
  end
end)

return M
