-- A renderer: sends a ping, invokes a handler, asks synchronously.
local ipcRenderer = require("mainhost.renderer").ipcRenderer

ipcRenderer.on("pong", function(event, text)
  print("ui: got pong " .. text)
  print("ui: 2 + 3 = " .. ipcRenderer.invoke("add", 2, 3))
  print("ui: the time in main is " .. ipcRenderer.sendSync("get-time"))
  ipcRenderer.send("done")
end)

ipcRenderer.send("ping", "hello from ui")
