-- A renderer that asks synchronously: sendSync blocks the whole renderer until
-- the main process sets event.returnValue, however late that is. Messages
-- that arrive meanwhile are kept and delivered afterwards, in order.
local ipcRenderer = require("mainhost.renderer").ipcRenderer

ipcRenderer.on("note", function(event, text)
  print("ui: a note that arrived while blocked: " .. text)
end)

ipcRenderer.on("bye", function()
  print("ui: bye")
  ipcRenderer.send("done")
end)

print("ui: asking main, blocking until it answers")
local answer = ipcRenderer.sendSync("question", "the answer to everything?")
print("ui: sendSync returned " .. answer)
ipcRenderer.send("answered", answer)
