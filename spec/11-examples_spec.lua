-- The examples in scripts/examples/ (the ones `scripts/run NAME` runs), each
-- run for real: chat (three Lua renderers, a broadcast through main), jobs
-- (a pool of Node.js workers served by invoke) and sync (sendSync answered
-- later, from a luv timer).
local t = require("mainhost.test")
local uv = require("luv")

local ROOT = (function()
  local src = debug.getinfo(1, "S").source:sub(2)
  local dir = src:match("^(.*)/spec/[^/]+$") or "."
  if dir:sub(1, 1) ~= "/" then dir = uv.cwd() .. "/" .. dir end
  return dir
end)()

local function example(name, opts)
  opts = opts or {}
  local r = t.exec({ cmd = { t.bin, ROOT .. "/scripts/examples/" .. name }, cwd = opts.cwd })
  assert.is_false(r.timed_out, "the example hung:\n" .. r.stdout .. r.stderr)
  assert.are.equal(0, r.code, r.stdout .. r.stderr)
  assert.are.equal("", r.stderr, "the example wrote to stderr:\n" .. r.stderr)
  return r
end

-- How many lines of text are exactly line.
local function count(text, line)
  local n = 0
  for _, l in ipairs(t.lines(text)) do
    if l == line then n = n + 1 end
  end
  return n
end

local function index_of(text, line)
  for i, l in ipairs(t.lines(text)) do
    if l == line then return i end
  end
end

-- Lines in this order. Only lines from one process, or a line main prints
-- before a message that makes a renderer print, have an order to check: a
-- renderer's output reaches the host on another pipe than its messages.
local function assert_order(r, lines)
  local last, prev = 0, nil
  for _, line in ipairs(lines) do
    local i = index_of(r.stdout, line)
    assert(i, ("expected the line\n  %s\nin\n%s"):format(line, r.stdout))
    assert(i > last, ("expected\n  %s\nbefore\n  %s\nin\n%s"):format(prev, line, r.stdout))
    last, prev = i, line
  end
end

local have_node = os.execute("command -v node >/dev/null 2>&1") == true
local node_it = have_node and it or function(description)
  it(description, function() pending("node is not installed (not found in PATH); the jobs example needs it") end)
end

describe("the examples", function()
  describe("chat", function()
    local MEMBERS = { alice = "hi everyone", bob = "hello from bob", carol = "carol here" }

    it("broadcasts each member's line to all three members, and main quits once every line reached everyone", function()
      local r = example("chat")
      for from, text in pairs(MEMBERS) do
        local said = ("main: %s says %q; broadcasting to 3 members"):format(from, text)
        assert.are.equal(1, count(r.stdout, said), r.stdout)
        for to in pairs(MEMBERS) do
          local got = ("[%s] %s got <%s> %s"):format(to, to, from, text)
          assert.are.equal(1, count(r.stdout, got), "expected once: " .. got .. "\n" .. r.stdout)
          assert_order(r, { said, got })
        end
      end
      assert.are.equal(1, count(r.stdout, "main: all 3 lines reached all 3 members, quitting"), r.stdout)
    end)
  end)

  describe("jobs", function()
    local function check_jobs(r)
      local reported = {}
      for _, l in ipairs(t.lines(r.stdout)) do
        local id, value = l:match("^main: job (%d+) = (%d+) %(from worker%-[123]%)$")
        if id then
          id = tonumber(id)
          assert.is_nil(reported[id], "job " .. id .. " reported twice:\n" .. r.stdout)
          assert.are.equal(id * id, tonumber(value), r.stdout)
          reported[id] = true
        end
      end
      for i = 1, 12 do assert.is_true(reported[i], "job " .. i .. " not reported:\n" .. r.stdout) end
      local jobs = 0
      for w = 1, 3 do
        assert.are.equal(1, count(r.stdout, ("main: worker-%d joined"):format(w)), r.stdout)
        local done
        for _, l in ipairs(t.lines(r.stdout)) do
          done = done or l:match(("^main: worker%%-%d stops after (%%d+) jobs$"):format(w))
        end
        assert(done, "worker-" .. w .. " did not stop:\n" .. r.stdout)
        jobs = jobs + tonumber(done)
      end
      assert.are.equal(12, jobs, r.stdout)
      assert.are.equal(1, count(r.stdout, "main: 12 of 12 jobs done, total 650"), r.stdout)
    end

    node_it("hands 12 jobs to a pool of three Node.js workers through invoke and prints the total of their results", function()
      check_jobs(example("jobs"))
    end)

    node_it("finds the Node.js client from the worker's own path, whatever the current directory", function()
      check_jobs(example("jobs", { cwd = t.tempdir() }))
      t.cleanup()
    end)
  end)

  describe("sync", function()
    it("blocks the renderer in sendSync until a luv timer in main sets event.returnValue after the listener returned", function()
      local r = example("sync")
      assert_order(r, {
        'main: got "the answer to everything?"; answering from a timer in 100 ms',
        "main: the listener returned without an answer",
        "main: the timer fired, setting event.returnValue",
        "[ui] ui: sendSync returned 42",
      })
      assert_order(r, { "[ui] ui: asking main, blocking until it answers", "[ui] ui: sendSync returned 42" })
      assert_order(r, { "main: the renderer got 42", "main: renderer is done, quitting" })
    end)

    it("delivers a message that arrived while the renderer was blocked after sendSync returns, before later ones", function()
      local r = example("sync")
      assert_order(r, {
        "[ui] ui: sendSync returned 42",
        "[ui] ui: a note that arrived while blocked: main was not blocked while you waited",
        "[ui] ui: bye",
      })
    end)
  end)
end)
