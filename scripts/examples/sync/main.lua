-- sendSync with an asynchronous returnValue. The 'question' listener returns
-- at once without answering; a luv timer sets event.returnValue 100 ms later,
-- and only then does the renderer's blocked sendSync return. Meanwhile the
-- main process is free: it sends the renderer a 'note', which the blocked
-- renderer keeps and handles after its sendSync, in order.
local mh = require("mainhost")
local uv = require("luv")
local ipcMain = mh.ipcMain

ipcMain.on("question", function(event, text)
  print(("main: got %q; answering from a timer in 100 ms"):format(text))
  local timer = uv.new_timer()
  timer:start(100, 0, function()
    timer:close()
    print("main: the timer fired, setting event.returnValue")
    event.returnValue = 42 -- the event is still usable after the listener returned
  end)
  event.sender.send("note", "main was not blocked while you waited")
  print("main: the listener returned without an answer")
end)

ipcMain.on("answered", function(event, answer)
  print(("main: the renderer got %d"):format(answer))
  event.reply("bye")
end)

ipcMain.once("done", function()
  print("main: renderer is done, quitting")
  mh.app.quit()
end)
