-- mainhost: the main-process API (ipcMain, webContents, app) for the main
-- script, plus the async helpers. Only available inside `mainhost APP`.
local ok, host = pcall(require, "mainhost.host")
if not ok then
  error("require('mainhost') is the main-process API and works only in a script run by "
    .. "`mainhost APP`; renderers use require('mainhost.renderer'), specs use "
    .. "require('mainhost.test')", 2)
end
local async = require("mainhost.async")

local M = {}
for k, v in pairs(host) do M[k] = v end
for k, v in pairs(async) do M[k] = v end

local app = host.app

--- Returns once the app is ready (at once if it already is). Call it from a
--- coroutine: the main script's top level, a listener or a handler.
function app.whenReady()
  if app.isReady() then return end
  local co, main = coroutine.running()
  if main or not coroutine.isyieldable() then
    error("app.whenReady must be called from a coroutine (the main script's top level, a listener, a handler)", 2)
  end
  local fired = false
  app.once("ready", function()
    fired = true
    local ok, err = coroutine.resume(co)
    if not ok then io.stderr:write("mainhost: error after whenReady: ", debug.traceback(co, tostring(err)), "\n") end
  end)
  repeat coroutine.yield() until fired
end

return M
