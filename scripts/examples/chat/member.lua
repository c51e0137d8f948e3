-- A chat member: says its line (the config's "args"), prints every line the
-- server broadcasts, and acknowledges each one.
local R = require("mainhost.renderer")
local ipcRenderer = R.ipcRenderer
local line = ...

ipcRenderer.on("line", function(event, from, text)
  print(("%s got <%s> %s"):format(R.name, from, text))
  ipcRenderer.send("got")
end)

ipcRenderer.send("say", line)
