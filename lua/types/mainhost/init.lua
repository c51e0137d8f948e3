---@meta mainhost
-- LuaLS annotations for require("mainhost"): the main-process API
-- (docs/api.md). These files describe the API for editors; they are never
-- run. Every method can be called with a dot, as in Electron
-- (`ipcMain.on(ch, fn)`), or with a colon (`ipcMain:on(ch, fn)`): the
-- `---@overload fun(self: ...)` lines describe the colon form.

---@alias mainhost.Signal
---| "SIGTERM" # the default of wc.kill()
---| "SIGKILL"
---| "SIGINT"
---| "SIGHUP"
---| "SIGQUIT"
---| "SIGUSR1"
---| "SIGUSR2"
---| "SIGSEGV"
---| "SIGABRT"

---@alias mainhost.RenderProcessGoneReason
---| "clean-exit"    # exit status 0
---| "abnormal-exit" # another exit status
---| "killed"        # ended by a signal that is not a crash (SIGKILL, SIGTERM, ...)
---| "crashed"       # SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP or SIGSYS
---| "launch-failed" # the process could not start

---@alias mainhost.RestartPolicy
---| "never"      # the default
---| "on-failure" # restart unless the reason is "clean-exit"
---| "always"

-- ---- null and json -----------------------------------------------------------

--- The value that stands for JSON `null` inside objects (a light userdata).
--- Compare with `v == mh.null`. It is sent as `null`.
---@class mainhost.Null

--- JSON with the wire's rules (`mh.json`, and `require("mainhost.renderer").json`).
---@class mainhost.Json
---@field null mainhost.Null the same sentinel as `mh.null` (on `mh.json` only)
local Json = {}

--- JSON text for `value`, with the wire's rules: `{}` gives `[]`, `nil` gives
--- `null`, and floats keep a `.`. Raises `value PATH: REASON` for what cannot
--- be sent, e.g. `value [1].f: function cannot be sent`.
---@param value any
---@return string json
function Json.encode(value) end

--- The Lua value for the JSON text `text`. A top-level `null` gives
--- `mh.null`; `null` in arrays gives holes; `null` in objects gives
--- `mh.null`. On bad input it returns `nil, "REASON at byte N"`.
---@param text string
---@return any value
---@return string? error
function Json.decode(text) end

-- ---- event objects -------------------------------------------------------------

--- The frame a message came from (`event.senderFrame`). The same object is
--- returned each time for one webContents and frame number.
---@class mainhost.WebFrameMain
---@field routingId integer the frame number (same as `event.frameId`)
---@field name string the renderer's name
---@field processId integer the renderer's OS process id (0 if it was gone when the frame object was made)
---@field osProcessId integer same as `processId`
---@field isMainFrame boolean `true` for frame 1
local WebFrameMain = {}

--- Sends `channel` with the values to this frame. A channel that is not a
--- string raises `Missing required channel argument`. If the renderer is
--- gone, it logs `mainhost: Error sending from webFrameMain: Render frame
--- was disposed` and returns.
---@param channel string
---@param ... any
---@overload fun(self: mainhost.WebFrameMain, channel: string, ...: any)
function WebFrameMain.send(channel, ...) end

--- The event of an `ipcMain.on` (or `wc.ipc.on`) listener: a `send` from a
--- renderer, or a `sendSync` (then `returnValue` answers it, see
--- `mainhost.IpcMainSyncEvent`).
---@class mainhost.IpcMainEvent
---@field sender mainhost.WebContents the renderer's webContents
---@field processId integer the renderer's OS process id
---@field frameId integer the frame the message came from (1 = the main frame)
---@field senderFrame mainhost.WebFrameMain the frame object for `frameId` (made on first use)
---@field returnValue any **sendSync only, write-only**: the first assignment answers the blocked renderer (also later, after waiting). Reading it gives `nil`.
local IpcMainEvent = {}

--- Sends `channel` with the values to the frame that sent the message. If
--- the renderer is gone, nothing happens. A value that cannot be sent raises
--- `argument N: ...` (the channel is argument 1), and nothing is sent.
---@param channel string
---@param ... any
---@overload fun(self: mainhost.IpcMainEvent, channel: string, ...: any)
function IpcMainEvent.reply(channel, ...) end

--- The event of a `sendSync` message (`ipc-message-sync`, and `ipcMain.on`
--- listeners for a sendSync).
---@class mainhost.IpcMainSyncEvent: mainhost.IpcMainEvent
---@field returnValue any write-only: the first assignment sends the value to the blocked renderer; later ones are ignored. A value that cannot be sent raises `returnValue 1: ...` and leaves the request open.

--- The event of an `ipcMain.handle` handler (an `invoke`). It has no
--- `reply`: the handler's return values are the reply.
---@class mainhost.IpcMainInvokeEvent
---@field sender mainhost.WebContents the renderer's webContents
---@field processId integer the renderer's OS process id
---@field frameId integer the frame the request came from (1 = the main frame)
---@field senderFrame mainhost.WebFrameMain the frame object for `frameId`

--- The event of lifecycle events (webContents and app).
---@class mainhost.LifecycleEvent
---@field defaultPrevented boolean `true` once `preventDefault()` was called
local LifecycleEvent = {}

--- Sets `defaultPrevented`: cancels `before-quit`, or keeps the app running
--- on `will-quit`. Call it before the listener first waits.
function LifecycleEvent.preventDefault() end

--- `details` of `render-process-gone`.
---@class mainhost.RenderProcessGoneDetails
---@field reason mainhost.RenderProcessGoneReason
---@field exitCode integer the exit status, or 128 + the signal number
---@field signal? string the signal's name, e.g. `"SIGKILL"`, when a signal ended it
---@field error? string for `launch-failed`: why, e.g. `cannot run 'node': No such file or directory`
---@field restarting boolean `true` when the restart policy will start a new renderer for it

-- ---- ipcMain -------------------------------------------------------------------

--- Receives `send` and `sendSync` messages (listeners) and answers `invoke`
--- requests (handlers). `wc.ipc` is an object of the same class, for one
--- renderer's messages only.
---@class mainhost.IpcMain
local IpcMain = {}

--- Adds `listener` at the end of the list for `channel`. The same function may be
--- added more than once; it then runs once per registration.
---@param channel string
---@param listener async fun(event: mainhost.IpcMainEvent, ...: any)
---@return mainhost.IpcMain self
---@overload fun(self: mainhost.IpcMain, channel: string, listener: async fun(event: mainhost.IpcMainEvent, ...: any)): mainhost.IpcMain
function IpcMain.on(channel, listener) end

--- Same as `on`.
---@param channel string
---@param listener async fun(event: mainhost.IpcMainEvent, ...: any)
---@return mainhost.IpcMain self
---@overload fun(self: mainhost.IpcMain, channel: string, listener: async fun(event: mainhost.IpcMainEvent, ...: any)): mainhost.IpcMain
function IpcMain.addListener(channel, listener) end

--- Like `on`, but the listener is removed just before it runs, so it runs at
--- most once.
---@param channel string
---@param listener async fun(event: mainhost.IpcMainEvent, ...: any)
---@return mainhost.IpcMain self
---@overload fun(self: mainhost.IpcMain, channel: string, listener: async fun(event: mainhost.IpcMainEvent, ...: any)): mainhost.IpcMain
function IpcMain.once(channel, listener) end

--- Adds `listener` at the front of the list for `channel`.
---@param channel string
---@param listener async fun(event: mainhost.IpcMainEvent, ...: any)
---@return mainhost.IpcMain self
---@overload fun(self: mainhost.IpcMain, channel: string, listener: async fun(event: mainhost.IpcMainEvent, ...: any)): mainhost.IpcMain
function IpcMain.prependListener(channel, listener) end

--- `once`, at the front of the list.
---@param channel string
---@param listener async fun(event: mainhost.IpcMainEvent, ...: any)
---@return mainhost.IpcMain self
---@overload fun(self: mainhost.IpcMain, channel: string, listener: async fun(event: mainhost.IpcMainEvent, ...: any)): mainhost.IpcMain
function IpcMain.prependOnceListener(channel, listener) end

--- Removes the most recently added registration of `listener` for `channel`
--- (`on` or `once`). Does nothing if there is none.
---@param channel string
---@param listener function
---@return mainhost.IpcMain self
---@overload fun(self: mainhost.IpcMain, channel: string, listener: function): mainhost.IpcMain
function IpcMain.removeListener(channel, listener) end

--- Same as `removeListener`.
---@param channel string
---@param listener function
---@return mainhost.IpcMain self
---@overload fun(self: mainhost.IpcMain, channel: string, listener: function): mainhost.IpcMain
function IpcMain.off(channel, listener) end

--- Removes every listener of `channel`, or of every channel when it is nil.
---@param channel? string
---@return mainhost.IpcMain self
---@overload fun(self: mainhost.IpcMain, channel?: string): mainhost.IpcMain
function IpcMain.removeAllListeners(channel) end

--- The number of listeners for `channel`.
---@param channel string
---@param listener? function count only this function
---@return integer
---@overload fun(self: mainhost.IpcMain, channel: string, listener?: function): integer
function IpcMain.listenerCount(channel, listener) end

--- A new array with the listener functions, in call order.
---@param channel string
---@return function[]
---@overload fun(self: mainhost.IpcMain, channel: string): function[]
function IpcMain.listeners(channel) end

--- The channels that have listeners.
---@return string[]
---@overload fun(self: mainhost.IpcMain): string[]
function IpcMain.eventNames() end

--- Calls the listeners with exactly these arguments (no event object is
--- added), each in its own coroutine. `true` if there was a listener.
---@param channel string
---@param ... any
---@return boolean hadListeners
---@overload fun(self: mainhost.IpcMain, channel: string, ...: any): boolean
function IpcMain.emit(channel, ...) end

--- Sets the handler for `invoke(channel, ...)`. It runs in a coroutine (it
--- may wait); all its return values are the reply; `error(...)` in it
--- rejects the renderer's invoke with the message. A second `handle` on the
--- same channel raises `Attempted to register a second handler for 'CHANNEL'`.
---@param channel string
---@param handler async fun(event: mainhost.IpcMainInvokeEvent, ...: any): ...
---@overload fun(self: mainhost.IpcMain, channel: string, handler: async fun(event: mainhost.IpcMainInvokeEvent, ...: any): ...)
function IpcMain.handle(channel, handler) end

--- Like `handle`; the handler is removed just before its first call.
---@param channel string
---@param handler async fun(event: mainhost.IpcMainInvokeEvent, ...: any): ...
---@overload fun(self: mainhost.IpcMain, channel: string, handler: async fun(event: mainhost.IpcMainInvokeEvent, ...: any): ...)
function IpcMain.handleOnce(channel, handler) end

--- Removes the handler, if any. An invoke already running is not affected;
--- later invokes get "No handler registered".
---@param channel string
---@overload fun(self: mainhost.IpcMain, channel: string)
function IpcMain.removeHandler(channel) end

-- ---- webContents ----------------------------------------------------------------

--- One renderer: one for each config entry, one for each `createRenderer`
--- call, and a new one each time a renderer is restarted. It is an event
--- emitter too (`on("render-process-gone", fn)`, ...).
---@class mainhost.WebContents
---@field id integer 1, 2, ... in creation order; never reused
---@field name string the renderer's name (a restarted renderer keeps its name)
---@field pid integer the OS process id (0 if the process never started)
---@field ipc mainhost.IpcMain this renderer's messages only: its listeners run before `ipcMain`'s, its handlers are used instead of `ipcMain`'s. Do not use it after the renderer is gone.
local WebContents = {}

--- Sends `channel` with the values to the renderer's main frame (frame 1).
--- `false` when the message was dropped (the renderer is not reading, or
--- its channel is closed). Raises `Object has been destroyed` when the
--- renderer is gone, `Missing required channel argument`, or `argument N:
--- ...` for a value that cannot be sent.
---@param channel string
---@param ... any
---@return boolean sent
---@overload fun(self: mainhost.WebContents, channel: string, ...: any): boolean
function WebContents.send(channel, ...) end

--- Sends to one frame: a frame number, or `{processId, frameId}`. `false`
--- if the renderer is gone or `frame` is below 1.
---@param frame integer|integer[]
---@param channel string
---@param ... any
---@return boolean sent
---@overload fun(self: mainhost.WebContents, frame: integer|integer[], channel: string, ...: any): boolean
function WebContents.sendToFrame(frame, channel, ...) end

--- `true` once the renderer is gone.
---@return boolean
---@overload fun(self: mainhost.WebContents): boolean
function WebContents.isDestroyed() end

--- `true` once it is gone for any reason other than `clean-exit`.
---@return boolean
---@overload fun(self: mainhost.WebContents): boolean
function WebContents.isCrashed() end

--- `true` until the renderer's first message (its hello) has arrived.
---@return boolean
---@overload fun(self: mainhost.WebContents): boolean
function WebContents.isLoading() end

--- The OS process id (same as `wc.pid`).
---@return integer
---@overload fun(self: mainhost.WebContents): integer
function WebContents.getOSProcessId() end

--- The OS process id (same as `wc.pid`).
---@return integer
---@overload fun(self: mainhost.WebContents): integer
function WebContents.getProcessId() end

--- Closes the renderer's socket. The renderer should exit; if it still runs
--- `limits.quitTimeoutMs` later it gets `SIGTERM`, then `SIGKILL`. It is not
--- restarted.
---@overload fun(self: mainhost.WebContents)
function WebContents.close() end

--- Sends a signal (default `"SIGTERM"`) to the renderer's process group.
--- `true` if the process was running. Its restart policy still applies.
---@param signal? integer|mainhost.Signal
---@return boolean running
---@overload fun(self: mainhost.WebContents, signal?: integer|mainhost.Signal): boolean
function WebContents.kill(signal) end

--- `SIGKILL` to the renderer's process group (reason `killed`).
---@overload fun(self: mainhost.WebContents)
function WebContents.forcefullyCrashRenderer() end

--- Adds `listener` at the end of the list for `event`. The same function may be
--- added more than once; it then runs once per registration.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.WebContents self
---@overload fun(event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: string, listener: async fun(event: any, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
function WebContents.on(event, listener) end

--- Same as `on`.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.WebContents self
---@overload fun(event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: string, listener: async fun(event: any, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
function WebContents.addListener(event, listener) end

--- Like `on`, but the listener is removed just before it runs, so it runs at
--- most once.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.WebContents self
---@overload fun(event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: string, listener: async fun(event: any, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
function WebContents.once(event, listener) end

--- Adds `listener` at the front of the list for `event`.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.WebContents self
---@overload fun(event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: string, listener: async fun(event: any, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
function WebContents.prependListener(event, listener) end

--- `once`, at the front of the list.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.WebContents self
---@overload fun(event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: string, listener: async fun(event: any, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "did-finish-load", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message", listener: async fun(event: mainhost.IpcMainEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "ipc-message-sync", listener: async fun(event: mainhost.IpcMainSyncEvent, channel: string, ...: any)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "render-process-gone", listener: async fun(event: mainhost.LifecycleEvent, details: mainhost.RenderProcessGoneDetails)): mainhost.WebContents
---@overload fun(self: mainhost.WebContents, event: "destroyed", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.WebContents
function WebContents.prependOnceListener(event, listener) end

--- Removes the most recently added registration of `listener` for `event`
--- (`on` or `once`). Does nothing if there is none.
---@param event string
---@param listener function
---@return mainhost.WebContents self
---@overload fun(self: mainhost.WebContents, event: string, listener: function): mainhost.WebContents
function WebContents.removeListener(event, listener) end

--- Same as `removeListener`.
---@param event string
---@param listener function
---@return mainhost.WebContents self
---@overload fun(self: mainhost.WebContents, event: string, listener: function): mainhost.WebContents
function WebContents.off(event, listener) end

--- Removes every listener of `event`, or of every event when it is nil.
---@param event? string
---@return mainhost.WebContents self
---@overload fun(self: mainhost.WebContents, event?: string): mainhost.WebContents
function WebContents.removeAllListeners(event) end

--- The number of listeners for `event`.
---@param event string
---@return integer
---@overload fun(self: mainhost.WebContents, event: string): integer
function WebContents.listenerCount(event) end

--- A new array with the listener functions, in call order.
---@param event string
---@return function[]
---@overload fun(self: mainhost.WebContents, event: string): function[]
function WebContents.listeners(event) end

--- The events that have listeners.
---@return string[]
---@overload fun(self: mainhost.WebContents): string[]
function WebContents.eventNames() end

--- Calls the listeners with exactly these arguments (no event object is
--- added), each in its own coroutine. `true` if there was a listener.
---@param event string
---@param ... any
---@return boolean hadListeners
---@overload fun(self: mainhost.WebContents, event: string, ...: any): boolean
function WebContents.emit(event, ...) end

--- `mh.webContents`: the table of webContents functions.
---@class mainhost.WebContentsModule
local WebContentsModule = {}

--- The webContents not yet gone, in id order.
---@return mainhost.WebContents[]
function WebContentsModule.getAllWebContents() end

--- The webContents with that id, or `nil` if there is none or it is gone.
---@param id integer
---@return mainhost.WebContents?
function WebContentsModule.fromId(id) end

-- ---- createRenderer ---------------------------------------------------------------

--- Options of `mh.createRenderer`: those of a config entry (docs/config.md).
--- Give exactly one of `script` or `command`.
---@class mainhost.RendererOptions
---@field script? string a Lua renderer script (run with `mainhost --renderer`), relative to the app directory
---@field command? string|string[] a program and its arguments
---@field name? string default: the script's file name without `.lua`, or the program's file name; made unique with `-2`, `-3`, ...
---@field args? string[] arguments for the script or program
---@field cwd? string default: the app directory
---@field env? table<string, string> added to the renderer's environment
---@field restart? mainhost.RestartPolicy default `"never"`
---@field maxRestarts? integer default 5 (0..1000)
---@field channels? string[] the channel allowlist (`"jobs:*"` ends with a prefix); absent means every channel

-- ---- app --------------------------------------------------------------------------

--- The application: an event emitter (`ready`, `web-contents-created`,
--- `all-renderers-gone`, `before-quit`, `will-quit`, `quit`) with
--- `quit`, `exit`, `isReady` and `whenReady`.
---@class mainhost.App
local App = {}

--- Begins the quit sequence: `before-quit`, pending requests fail, every
--- renderer is closed, `will-quit`, `quit`; the host then exits with status
--- `code` (default 0). Ignored while a quit is already going on.
---@param code? integer
---@overload fun(self: mainhost.App, code?: integer)
function App.quit(code) end

--- Exits now with status `code` (default 0): every renderer gets `SIGKILL`,
--- no event is emitted, pending requests get no answer.
---@param code? integer
---@overload fun(self: mainhost.App, code?: integer)
function App.exit(code) end

--- `true` once `ready` has been emitted.
---@return boolean
---@overload fun(self: mainhost.App): boolean
function App.isReady() end

--- Waits until the app is ready (returns at once if it is). Call it from a
--- coroutine: the main script's top level, a listener or a handler.
---@async
---@overload fun(self: mainhost.App)
function App.whenReady() end

--- Adds `listener` at the end of the list for `event`. The same function may be
--- added more than once; it then runs once per registration.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.App self
---@overload fun(event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
---@overload fun(self: mainhost.App, event: string, listener: async fun(event: any, ...: any)): mainhost.App
---@overload fun(self: mainhost.App, event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(self: mainhost.App, event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
function App.on(event, listener) end

--- Same as `on`.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.App self
---@overload fun(event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
---@overload fun(self: mainhost.App, event: string, listener: async fun(event: any, ...: any)): mainhost.App
---@overload fun(self: mainhost.App, event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(self: mainhost.App, event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
function App.addListener(event, listener) end

--- Like `on`, but the listener is removed just before it runs, so it runs at
--- most once.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.App self
---@overload fun(event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
---@overload fun(self: mainhost.App, event: string, listener: async fun(event: any, ...: any)): mainhost.App
---@overload fun(self: mainhost.App, event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(self: mainhost.App, event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
function App.once(event, listener) end

--- Adds `listener` at the front of the list for `event`.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.App self
---@overload fun(event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
---@overload fun(self: mainhost.App, event: string, listener: async fun(event: any, ...: any)): mainhost.App
---@overload fun(self: mainhost.App, event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(self: mainhost.App, event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
function App.prependListener(event, listener) end

--- `once`, at the front of the list.
---@param event string
---@param listener async fun(event: any, ...: any)
---@return mainhost.App self
---@overload fun(event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
---@overload fun(self: mainhost.App, event: string, listener: async fun(event: any, ...: any)): mainhost.App
---@overload fun(self: mainhost.App, event: "web-contents-created", listener: async fun(event: mainhost.LifecycleEvent, webContents: mainhost.WebContents)): mainhost.App
---@overload fun(self: mainhost.App, event: "ready", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "all-renderers-gone", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "before-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "will-quit", listener: async fun(event: mainhost.LifecycleEvent)): mainhost.App
---@overload fun(self: mainhost.App, event: "quit", listener: async fun(event: mainhost.LifecycleEvent, exitCode: integer)): mainhost.App
function App.prependOnceListener(event, listener) end

--- Removes the most recently added registration of `listener` for `event`
--- (`on` or `once`). Does nothing if there is none.
---@param event string
---@param listener function
---@return mainhost.App self
---@overload fun(self: mainhost.App, event: string, listener: function): mainhost.App
function App.removeListener(event, listener) end

--- Same as `removeListener`.
---@param event string
---@param listener function
---@return mainhost.App self
---@overload fun(self: mainhost.App, event: string, listener: function): mainhost.App
function App.off(event, listener) end

--- Removes every listener of `event`, or of every event when it is nil.
---@param event? string
---@return mainhost.App self
---@overload fun(self: mainhost.App, event?: string): mainhost.App
function App.removeAllListeners(event) end

--- The number of listeners for `event`.
---@param event string
---@return integer
---@overload fun(self: mainhost.App, event: string): integer
function App.listenerCount(event) end

--- A new array with the listener functions, in call order.
---@param event string
---@return function[]
---@overload fun(self: mainhost.App, event: string): function[]
function App.listeners(event) end

--- The events that have listeners.
---@return string[]
---@overload fun(self: mainhost.App): string[]
function App.eventNames() end

--- Calls the listeners with exactly these arguments (no event object is
--- added), each in its own coroutine. `true` if there was a listener.
---@param event string
---@param ... any
---@return boolean hadListeners
---@overload fun(self: mainhost.App, event: string, ...: any): boolean
function App.emit(event, ...) end

-- ---- the module -------------------------------------------------------------------

--- `require("mainhost")`: the main-process API. Works only in a script run
--- by `mainhost APP` (and in specs under `mainhost test`).
---@class mainhost: mainhost.Async
---@field ipcMain mainhost.IpcMain
---@field webContents mainhost.WebContentsModule
---@field app mainhost.App
---@field null mainhost.Null the value that stands for JSON `null` inside objects
---@field json mainhost.Json `encode` and `decode` with the wire's rules
---@field version string the mainhost version, e.g. `"0.1.0"`
---@field protocolVersion integer the wire protocol version, `1`
local mainhost = {}

--- Starts a renderer now and returns its webContents at once. Relative
--- paths are relative to the app directory; nothing is checked on disk (a
--- missing program gives `render-process-gone` with `launch-failed`).
---@param options mainhost.RendererOptions
---@return mainhost.WebContents
function mainhost.createRenderer(options) end

--- Turns IPC tracing on or off: `false` or nil stops it, `true` writes to
--- the `--trace` target (or stderr), a string appends to that file. Returns
--- `true`, or `nil` and an error text.
---@param target? boolean|string
---@return boolean? ok
---@return string? error
function mainhost.trace(target) end

return mainhost
