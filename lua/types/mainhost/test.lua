---@meta mainhost.test
-- LuaLS annotations for require("mainhost.test"): helpers for busted specs
-- run with `mainhost test`. Real-process mode runs the real `mainhost` on
-- an app written into a temporary directory; in-process mode attaches fake
-- renderers (a real socketpair, the real codec and dispatch) to the host
-- that runs the specs. The module's functions are called with a dot
-- (`after_each(t.cleanup)`); a test renderer's methods with a colon
-- (`r:invoke("add", 1, 2)`).

--- Options of `t.exec`.
---@class mainhost.ExecOptions
---@field cmd string[] the argv array; `cmd[1]` is the program
---@field timeout? integer ms (default 30000): the process is killed with `SIGKILL` then, a guard against hangs
---@field env? string[] `{"K=V", ...}` added to the current environment
---@field cwd? string
---@field stdin? string fed to the process's standard input
---@field on_start? fun(pid: integer) called once the process has started

--- What `t.exec` returns.
---@class mainhost.ExecResult
---@field code integer the exit status
---@field signal integer the signal that ended it, or 0
---@field stdout string
---@field stderr string
---@field timed_out boolean `true` if the timeout killed it
---@field pid integer

--- Options of `t.run_app`.
---@class mainhost.RunAppOptions
---@field app? string what to pass to `mainhost` instead of the directory (e.g. `dir .. "/other.json"`)
---@field timeout? integer ms, as for `t.exec`
---@field env? string[] `{"K=V", ...}` added to the current environment
---@field cwd? string
---@field on_start? fun(pid: integer)

--- What `t.run_app` returns: the `exec` result and the app directory.
---@class mainhost.RunAppResult: mainhost.ExecResult
---@field dir string the temporary directory holding the app

--- A message that main sent to a test renderer.
---@class mainhost.TestMessage
---@field channel string
---@field args table the arguments, packed (`args.n` is their number)
---@field frame integer the frame it was addressed to (1 = the main frame)

--- Options of `t.renderer`.
---@class mainhost.TestRendererOptions
---@field name? string the renderer's name (default `"test"`)
---@field timeout? integer ms to wait for a reply before raising (default 10000)

--- An in-process renderer attached to the test host (`t.renderer()`): main
--- sees a webContents for it, and every message goes through the real codec
--- and dispatch. Call its methods with a colon.
---@class mainhost.TestRenderer
---@field id integer its webContents id
---@field webContents mainhost.WebContents main's object for it
---@field messages mainhost.TestMessage[] every message received so far, in order
---@field timeout? integer ms to wait for a reply (default 10000)
local TestRenderer = {}

--- Sends like `ipcRenderer.send` and returns once the host has handled it.
---@param channel string
---@param ... any
function TestRenderer:send(channel, ...) end

--- Like `ipcRenderer.invoke`: the handler's return values, or an error
--- `Error invoking remote method 'CHANNEL': ...`.
---@param channel string
---@param ... any
---@return any ...
function TestRenderer:invoke(channel, ...) end

--- Like `ipcRenderer.sendSync`: the value main set as `event.returnValue`,
--- or an error `Error in sendSync for 'CHANNEL': ...`.
---@param channel string
---@param ... any
---@return any returnValue
function TestRenderer:sendSync(channel, ...) end

--- The messages main sent to this renderer so far, all of them or those on
--- `channel`. Turns the loop once first.
---@param channel? string
---@return mainhost.TestMessage[]
function TestRenderer:received(channel) end

--- Closes the renderer's end: main sees it gone (`render-process-gone`).
function TestRenderer:close() end

--- `require("mainhost.test")`.
---@class mainhost.test
---@field bin string the `mainhost` executable to run: `MAINHOST_BIN`, or `"mainhost"`
local test = {}

--- Makes a new empty directory under `$TMPDIR` (or `/tmp`), removed by
--- `t.cleanup()`, and returns its path.
---@return string dir
function test.tempdir() end

--- Removes every directory made by `tempdir()`.
function test.cleanup() end

--- Writes `files` (`{ [relative path] = content }`) into `dir`, making
--- subdirectories. A table `content` is written as JSON with `t.to_json`.
---@param dir string
---@param files table<string, string|table>
---@return string dir
function test.write(dir, files) end

--- A small JSON encoder for configs: a table with `[1]` is an array, any
--- other table an object (so `{}` is `{}`), with keys sorted.
---@param value any
---@return string json
function test.to_json(value) end

--- Runs a command, waits for it and collects its output. Raises if the
--- output holds a sanitizer report.
---@param opts mainhost.ExecOptions
---@return mainhost.ExecResult
function test.exec(opts) end

--- Writes `files` into a new temporary directory and runs `mainhost DIR` on it.
---@param files table<string, string|table>
---@param opts? mainhost.RunAppOptions
---@return mainhost.RunAppResult
function test.run_app(files, opts) end

--- The lines of `s` as an array, without the newlines (each line must end
--- with a newline).
---@param s string
---@return string[]
function test.lines(s) end

--- `true` if the process exists and is not a zombie.
---@param pid integer
---@return boolean
function test.alive(pid) end

--- Runs the luv loop until `pred()` is true; raises `timed out waiting: MSG`
--- after `timeout` ms (default 10000).
---@param pred fun(): any
---@param timeout? integer
---@param msg? string
function test.wait_for(pred, timeout, msg) end

--- An in-process renderer attached to this test host. Needs `mainhost test`.
---@param opts? mainhost.TestRendererOptions
---@return mainhost.TestRenderer
function test.renderer(opts) end

--- Runs a main script in this test host, its top level in a coroutine as
--- `mainhost APP` runs it; an error in it is raised here. Needs `mainhost test`.
---@param path string
function test.load(path) end

--- Turns the host's loop (timers, waiting handlers) until `pred()` is true;
--- raises `timed out waiting: MSG` after `timeout` ms (default 10000).
---@param pred fun(): any
---@param timeout? integer
---@param msg? string
function test.pump(pred, timeout, msg) end

--- Whether main asked to quit (`app.quit` or `app.exit`), and with which code.
---@return boolean quitting
---@return integer code
function test.quit_state() end

--- Between cases: closes the in-process renderers, removes every ipcMain
--- listener and handler and every app listener, forgets a quit.
function test.reset() end

return test
