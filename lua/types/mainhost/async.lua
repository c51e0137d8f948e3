---@meta mainhost.async
-- LuaLS annotations for require("mainhost.async"): waiting without
-- blocking, on the process's own luv loop. The same functions are in
-- require("mainhost"). They work in the main script and in Lua renderers.

--- The async helpers (`require("mainhost.async")`, also part of `require("mainhost")`).
---@class mainhost.Async
local async = {}

--- Suspends the calling coroutine for `ms` milliseconds (`nil` or a
--- negative number means 0). Returns nothing. Outside a coroutine it raises
--- `sleep must be called from a coroutine (...)`.
---@async
---@param ms? integer
function async.sleep(ms) end

--- Calls `fn(..., callback)` (a luv-style function whose last argument is a
--- callback) and suspends until the callback is called; returns the
--- callback's arguments. If `fn` fails at once (returns `nil, err` without
--- calling back, as luv does), returns `err` and the next value instead.
--- Only the first call of the callback counts.
---
--- ```lua
--- local err, stat = mh.await(uv.fs_stat, "/tmp")
--- ```
---@async
---@param fn function
---@param ... any the arguments before the callback
---@return any ...
function async.await(fn, ...) end

--- Runs `fn(...)` in a new coroutine now, until it first waits or ends, and
--- returns the coroutine. An error inside is reported on stderr
--- (`mainhost: error in a coroutine: ...`), not raised.
---@param fn async fun(...)
---@param ... any
---@return thread
function async.spawn(fn, ...) end

return async
