-- mainhost.async: waiting without blocking, on the process's own luv loop.
-- Every listener, handler and script top level runs in a coroutine, so
-- these can be called from any of them; outside a coroutine they raise.
local uv = require("luv")

local M = {}

local function current(what)
  local co, main = coroutine.running()
  if main or not coroutine.isyieldable() then
    error(what .. " must be called from a coroutine (a listener, a handler, a script's top level "
      .. "or mainhost.spawn)", 3)
  end
  return co
end

local function resume(co, ...)
  local ok, err = coroutine.resume(co, ...)
  if not ok then
    io.stderr:write("mainhost: error in a coroutine: ", debug.traceback(co, tostring(err)), "\n")
  end
end

--- Suspends the calling coroutine for ms milliseconds.
---@param ms integer
function M.sleep(ms)
  local co = current("sleep")
  local t = uv.new_timer()
  t:start(math.max(0, ms or 0), 0, function()
    t:close()
    resume(co)
  end)
  return coroutine.yield()
end

--- Calls fn(..., callback) (a luv-style function whose last argument is a
--- callback) and returns the callback's arguments when it fires.
--- `local err, data = mh.await(uv.fs_readfile, path)` is not luv; use e.g.
--- `local err, stat = mh.await(uv.fs_stat, "/tmp")`.
function M.await(fn, ...)
  local co = current("await")
  local done, results = false, nil
  local n = select("#", ...)
  local args = { ... }
  args[n + 1] = function(...)
    if done then return end
    done = true
    if coroutine.status(co) == "suspended" then
      resume(co, ...)
    else
      results = table.pack(...)
    end
  end
  local ret = table.pack(fn(table.unpack(args, 1, n + 1)))
  -- A luv function that fails at once returns nil, err without calling back.
  if ret[1] == nil and ret.n >= 2 and not done then
    done = true
    return ret[2], ret[3]
  end
  if results then return table.unpack(results, 1, results.n) end
  return coroutine.yield()
end

--- Runs fn(...) in a new coroutine now; errors are reported, not raised.
function M.spawn(fn, ...)
  local co = coroutine.create(fn)
  resume(co, ...)
  return co
end

return M
