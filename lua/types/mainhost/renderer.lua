---@meta mainhost.renderer
-- LuaLS annotations for require("mainhost.renderer"): the renderer side of
-- IPC for Lua renderers (`mainhost --renderer SCRIPT.lua`, a config's
-- "script" entry). See docs/api.md. Every ipcRenderer method can be called
-- with a dot or with a colon.

--- The event of an ipcRenderer listener.
---@class mainhost.IpcRendererEvent
---@field sender mainhost.IpcRenderer the ipcRenderer of the frame that got the message
---@field frameId integer the frame number (1 = the main frame)
---@field ports table always empty (there are no MessagePorts)

--- Electron's `ipcRenderer`, one per frame.
---@class mainhost.IpcRenderer
local IpcRenderer = {}

--- Adds `listener` at the end of the list for `channel`. The same function may be
--- added more than once; it then runs once per registration.
---@param channel string
---@param listener async fun(event: mainhost.IpcRendererEvent, ...: any)
---@return mainhost.IpcRenderer self
---@overload fun(self: mainhost.IpcRenderer, channel: string, listener: async fun(event: mainhost.IpcRendererEvent, ...: any)): mainhost.IpcRenderer
function IpcRenderer.on(channel, listener) end

--- Same as `on`.
---@param channel string
---@param listener async fun(event: mainhost.IpcRendererEvent, ...: any)
---@return mainhost.IpcRenderer self
---@overload fun(self: mainhost.IpcRenderer, channel: string, listener: async fun(event: mainhost.IpcRendererEvent, ...: any)): mainhost.IpcRenderer
function IpcRenderer.addListener(channel, listener) end

--- Like `on`, but the listener is removed just before it runs, so it runs at
--- most once.
---@param channel string
---@param listener async fun(event: mainhost.IpcRendererEvent, ...: any)
---@return mainhost.IpcRenderer self
---@overload fun(self: mainhost.IpcRenderer, channel: string, listener: async fun(event: mainhost.IpcRendererEvent, ...: any)): mainhost.IpcRenderer
function IpcRenderer.once(channel, listener) end

--- Adds `listener` at the front of the list for `channel`.
---@param channel string
---@param listener async fun(event: mainhost.IpcRendererEvent, ...: any)
---@return mainhost.IpcRenderer self
---@overload fun(self: mainhost.IpcRenderer, channel: string, listener: async fun(event: mainhost.IpcRendererEvent, ...: any)): mainhost.IpcRenderer
function IpcRenderer.prependListener(channel, listener) end

--- `once`, at the front of the list.
---@param channel string
---@param listener async fun(event: mainhost.IpcRendererEvent, ...: any)
---@return mainhost.IpcRenderer self
---@overload fun(self: mainhost.IpcRenderer, channel: string, listener: async fun(event: mainhost.IpcRendererEvent, ...: any)): mainhost.IpcRenderer
function IpcRenderer.prependOnceListener(channel, listener) end

--- Removes the most recently added registration of `listener` for `channel`
--- (`on` or `once`). Does nothing if there is none.
---@param channel string
---@param listener function
---@return mainhost.IpcRenderer self
---@overload fun(self: mainhost.IpcRenderer, channel: string, listener: function): mainhost.IpcRenderer
function IpcRenderer.removeListener(channel, listener) end

--- Same as `removeListener`.
---@param channel string
---@param listener function
---@return mainhost.IpcRenderer self
---@overload fun(self: mainhost.IpcRenderer, channel: string, listener: function): mainhost.IpcRenderer
function IpcRenderer.off(channel, listener) end

--- Removes every listener of `channel`, or of every channel when it is nil.
---@param channel? string
---@return mainhost.IpcRenderer self
---@overload fun(self: mainhost.IpcRenderer, channel?: string): mainhost.IpcRenderer
function IpcRenderer.removeAllListeners(channel) end

--- The number of listeners for `channel`.
---@param channel string
---@return integer
---@overload fun(self: mainhost.IpcRenderer, channel: string): integer
function IpcRenderer.listenerCount(channel) end

--- A new array with the listener functions, in call order.
---@param channel string
---@return function[]
---@overload fun(self: mainhost.IpcRenderer, channel: string): function[]
function IpcRenderer.listeners(channel) end

--- The channels that have listeners.
---@return string[]
---@overload fun(self: mainhost.IpcRenderer): string[]
function IpcRenderer.eventNames() end

--- Calls the listeners with exactly these arguments (no event object is
--- added), each in its own coroutine. `true` if there was a listener.
---@param channel string
---@param ... any
---@return boolean hadListeners
---@overload fun(self: mainhost.IpcRenderer, channel: string, ...: any): boolean
function IpcRenderer.emit(channel, ...) end

--- Sends `channel` with the values to the main process and returns at once
--- (the message is written at the next turn of the loop). Raises
--- `bad argument #1 to 'send' (channel must be a string, got number)`, or
--- `argument N: ...` for a value that cannot be sent.
---@param channel string
---@param ... any
---@overload fun(self: mainhost.IpcRenderer, channel: string, ...: any)
function IpcRenderer.send(channel, ...) end

--- Sends and blocks the whole renderer until the main process sets
--- `event.returnValue`; returns that value. Raises
--- `Error in sendSync for 'CHANNEL': TEXT` on failure.
---@param channel string
---@param ... any
---@return any returnValue
---@overload fun(self: mainhost.IpcRenderer, channel: string, ...: any): any
function IpcRenderer.sendSync(channel, ...) end

--- Calls the main process's `ipcMain.handle` handler and returns every
--- value it returned. Inside a coroutine (the script's top level, a
--- listener, `mainhost.async.spawn`) it suspends only that coroutine;
--- outside one it blocks like `sendSync`. Raises
--- `Error invoking remote method 'CHANNEL': TEXT`, e.g.
--- `Error invoking remote method 'add': Error: boom`.
---@param channel string
---@param ... any
---@return any ...
---@overload fun(self: mainhost.IpcRenderer, channel: string, ...: any): ...
function IpcRenderer.invoke(channel, ...) end

--- A sub-frame opened with `openFrame()`.
---@class mainhost.RendererFrame
---@field id integer its frame number (2, 3, ...)
---@field ipcRenderer mainhost.IpcRenderer an ipcRenderer of its own: main sees its messages with `event.frameId == id`
local RendererFrame = {}

--- From now on, messages addressed to this frame are dropped.
function RendererFrame.close() end

--- `require("mainhost.renderer")`. Works only in a renderer started by
--- mainhost.
---@class mainhost.renderer
---@field ipcRenderer mainhost.IpcRenderer the main frame's ipcRenderer
---@field frameId integer 1, the main frame's number
---@field id integer? this renderer's webContents id (from `MAINHOST_RENDERER_ID`)
---@field name string? its name (from `MAINHOST_RENDERER_NAME`)
---@field null mainhost.Null the same null sentinel as `mh.null`
---@field json mainhost.Json `encode` and `decode`, as `mh.json`
local renderer = {}

--- Opens a sub-frame with its own ipcRenderer. Main sees its messages with
--- `event.frameId == frame.id`, and `event.reply` reaches this frame only.
---@return mainhost.RendererFrame frame
function renderer.openFrame() end

return renderer
