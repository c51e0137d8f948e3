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
return M
