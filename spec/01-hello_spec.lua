-- The hello example end to end: a Lua renderer and the main script talk
-- through send/reply, invoke/handle and sendSync/returnValue.
local t = require("mainhost.test")

describe("the hello example", function()
  it("prints the whole exchange and exits 0 when the main script quits", function()
    local r = t.exec({ cmd = { t.bin, "scripts/examples/hello" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches('main: got ping "hello from ui" from renderer 1', r.stdout, 1, true)
    assert.matches("[ui] ui: got pong HELLO FROM UI", r.stdout, 1, true)
    assert.matches("[ui] ui: 2 + 3 = 5", r.stdout, 1, true)
    assert.matches("%[ui%] ui: the time in main is %d%d%d%d%-", r.stdout)
    assert.matches("main: renderer is done, quitting", r.stdout, 1, true)
  end)
end)
