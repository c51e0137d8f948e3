-- The chat server: every line a member says is broadcast to every member
-- (the sender included) with webContents.getAllWebContents(). Each member
-- acknowledges each line it prints; once every line has reached every
-- member, the main process quits.
local mh = require("mainhost")
local ipcMain, webContents = mh.ipcMain, mh.webContents

local said, delivered = 0, 0

-- Members still running, counted when a message arrives: all renderers
-- start together, so each of them exists by then.
local function members() return #webContents.getAllWebContents() end

ipcMain.on("say", function(event, text)
  said = said + 1
  print(("main: %s says %q; broadcasting to %d members"):format(event.sender.name, text, members()))
  for _, wc in ipairs(webContents.getAllWebContents()) do
    wc.send("line", event.sender.name, text)
  end
end)

ipcMain.on("got", function()
  delivered = delivered + 1
  local n = members()
  if said == n and delivered == n * n then
    print(("main: all %d lines reached all %d members, quitting"):format(said, n))
    mh.app.quit()
  end
end)
