-- The main process: answers pings, adds numbers, and quits when the
-- renderer says it is done.
local mh = require("mainhost")
local ipcMain = mh.ipcMain

ipcMain.on("ping", function(event, text)
  print(("main: got ping %q from renderer %d"):format(text, event.sender.id))
  event.reply("pong", text:upper())
end)

ipcMain.handle("add", function(event, a, b)
  mh.sleep(10) -- a handler may wait; the reply goes when it returns
  return a + b
end)

ipcMain.on("get-time", function(event)
  event.returnValue = os.date("!%Y-%m-%dT%H:%M:%SZ")
end)

ipcMain.once("done", function()
  print("main: renderer is done, quitting")
  mh.app.quit()
end)
