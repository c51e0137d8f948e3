-- The main process of the c-renderer example: the same conversation as the
-- hello example, with a renderer written in C (renderer.c, linked to
-- libmainhost-renderer; see include/mainhost/renderer.h).
--
-- Where the renderer comes from: meson builds renderer.c into
-- build/scripts/examples/c-renderer/c-renderer, and mainhost.json names it
-- with a "command" path relative to this directory (a renderer's working
-- directory, where relative program paths are resolved):
--   "command": ["../../../build/scripts/examples/c-renderer/c-renderer"]
-- `scripts/run c-renderer` builds into build/ and then runs this directory,
-- so the path is there. In an app of your own, point "command" at your
-- program, built with `cc renderer.c $(pkg-config --cflags --libs mainhost-renderer)`.
local mh = require("mainhost")
local ipcMain = mh.ipcMain

ipcMain.on("ping", function(event, text)
  print(("main: got ping %q from renderer %d"):format(text, event.sender.id))
  event.reply("pong", text:upper())
end)

-- Integers stay integers and floats stay floats, both ways.
ipcMain.handle("add", function(event, a, b)
  mh.sleep(10) -- a handler may wait; the reply goes when it returns
  return a + b, math.type(a + b)
end)

-- A handler that raises: the renderer gets Electron's error text, and the
-- host logs the error with its traceback on stderr, as Electron does.
ipcMain.handle("fail", function()
  error("no such thing")
end)

ipcMain.on("get-time", function(event)
  event.returnValue = os.date("!%Y-%m-%dT%H:%M:%SZ")
end)

ipcMain.once("done", function(event, count)
  print(("main: the C renderer is done after %d replies, quitting"):format(count))
  mh.app.quit()
end)
