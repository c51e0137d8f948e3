-- Findings of a review by a new user (and a hostile-renderer test) of the
-- whole product, fixed since. Real host, real renderer processes; the
-- timeouts only guard against hangs (several of these bugs were hangs).
local t = require("mainhost.test")
local S = require("support.app")
local app, has_line, lines_from = S.app, S.has_line, S.lines_from

describe("review by a new user", function()
  after_each(function() t.cleanup() end)

  -- The runner reuses the coroutine of a handler that finished at once; the
  -- pool table kept anchoring one that was taken again and then waited, so
  -- a handler waiting on a callback nobody could call any more was never
  -- collected and its invoke never answered (the renderer hung). Both
  -- requests below run in a reused coroutine: the main chunk's, then the
  -- "warm" handler's.
  it("answers a handler or listener that waits for ever in a reused coroutine with 'reply was never sent'",
    function()
    local r = app({
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "ui", script = "ui.lua" } } },
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.ipcMain.handle("warm", function() return "warm" end)
        mh.ipcMain.handle("lost", function() return mh.await(function(cb) end) end) -- cb is never called
        mh.ipcMain.on("lost-sync", function() coroutine.yield() end)                -- nor is this resumed
        mh.ipcMain.on("done", function() mh.app.quit() end)
      ]],
      ["ui.lua"] = [[
        local ipc = require("mainhost.renderer").ipcRenderer
        print(ipc.invoke("warm"))
        print(pcall(ipc.invoke, "lost"))
        print(ipc.invoke("warm"))
        print(pcall(ipc.sendSync, "lost-sync"))
        ipc.send("done")
      ]],
    }, { timeout = 20000 })
    assert.are.same({
      "warm",
      "false\tError invoking remote method 'lost': reply was never sent",
      "warm",
      "false\tError in sendSync for 'lost-sync': reply was never sent",
    }, lines_from(r.stdout, "[ui] "), r.stdout .. r.stderr)
  end)
end)
