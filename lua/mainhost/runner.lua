-- mainhost.runner: runs listeners and handlers in pooled coroutines, so any
-- of them may wait (on a timer, a child process, an invoke) while the others
-- go on. A finished coroutine goes back to the pool instead of being
-- collected; one that waits forever and is dropped is collected with its
-- request token, which answers the renderer with an error.
local M = {}

local create, resume, running, yield = coroutine.create, coroutine.resume, coroutine.running, coroutine.yield
local traceback = debug.traceback

local POOL_MAX = 256
local pool, npool = {}, 0
local KEY = {} -- only the runner's own resumes carry this
local IDLE = setmetatable({}, { __name = "mainhost.runner.idle", __tostring = function() return "mainhost: idle coroutine" end })

local finish = function(token, ok, ...) end -- replaced by the host
local last_tb

local function msgh(e)
  local text = e
  if type(e) == "number" then
    text = tostring(e)
  elseif type(e) ~= "string" then
    local mt = getmetatable(e)
    text = (mt and mt.__tostring) and tostring(e) or ("(error object is a " .. type(e) .. " value)")
  end
  last_tb = traceback(text, 2)
  return e
end

local function settle(token, ok, ...)
  if ok then
    if type(token) ~= "string" then finish(token, true, ...) end -- a listener's results go nowhere
  else
    local tb = last_tb
    last_tb = nil
    finish(token, false, (...), tb)
  end
end

local function step(fn, token, ...)
  settle(token, xpcall(fn, msgh, ...))
end

local function accept(key, ...)
  if key ~= KEY then return false end -- a stray resume of an idle coroutine
  step(...)
  return true
end

-- Takes jobs through accept() only, so no job's arguments stay on this
-- frame after the job is done (a dropped event must be collectable).
local function body()
  local co = running()
  while true do
    while not accept(yield(IDLE)) do end
    if npool >= POOL_MAX then return end
    npool = npool + 1
    pool[npool] = co
  end
end

--- Runs fn(...) in a coroutine; token says what it is (see lstate.h).
function M.run(fn, token, ...)
  local co
  if npool > 0 then
    co = pool[npool]
    pool[npool] = nil
    npool = npool - 1
  else
    co = create(body)
    resume(co) -- to its first yield
  end
  return resume(co, KEY, fn, token, ...)
end

function M.set_finisher(f) finish = f end

--- True when v is what an idle pooled coroutine yields.
function M.is_idle(v) return v == IDLE end

return M
