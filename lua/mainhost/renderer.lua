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

local frames = {} -- frame id -> { ipc, bound_emit (ipc.emit as made), emit (unbound), event_mt }
local next_frame = 1

M.id = tonumber(os.getenv("MAINHOST_RENDERER_ID")) -- this renderer's webContents id
M.name = os.getenv("MAINHOST_RENDERER_NAME")        -- its name in the config

local function new_ipc_renderer(frame_id)
  local obj, raw = emitter.mixin({})
  -- send, sendSync and invoke are C closures over the frame id (see
  -- lrenderer.c): no Lua runs between the caller and the socket. invoke
  -- yields in a coroutine until its reply resumes it, and blocks elsewhere.
  channel.bind_methods(obj, frame_id)
  return setmetatable(obj, { __name = "mainhost.IpcRenderer" }), raw.emit
end

-- A listener's event is an empty table whose metatable gives sender and
-- frameId (shared by the frame's events) and makes `ports` (an empty
-- array) on first use: one small table per message.
local function event_mt(ipc, frame_id)
  local shared = { sender = ipc, frameId = frame_id }
  return {
    __index = function(ev, k)
      if k == "ports" then
        local ports = {}
        rawset(ev, "ports", ports)
        return ports
      end
      return shared[k]
    end,
  }
end

local function new_frame()
  local id = next_frame
  next_frame = next_frame + 1
  local ipc, emit = new_ipc_renderer(id)
  local frame = { id = id, ipcRenderer = ipc }
  frames[id] = { ipc = ipc, bound_emit = ipc.emit, emit = emit, event_mt = event_mt(ipc, id) }
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

-- Results resume their invokes in C; only messages come here, as
-- (frame, channel, error (nil), args...).
channel.set_dispatch(function(frame, ch, _, ...)
  local f = frames[frame]
  if not f then return end
  -- The emitter's own emit, unless the script replaced ipcRenderer.emit
  -- (to log or filter messages): then that one, as before.
  local emit = f.ipc.emit
  if emit == f.bound_emit then emit = f.emit end
  emit(ch, setmetatable({}, f.event_mt), ...)
end)

return M
