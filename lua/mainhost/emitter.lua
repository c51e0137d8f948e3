-- mainhost.emitter: Node's EventEmitter semantics for Lua objects
-- (ipcRenderer, webContents, app): registration order, the same function may
-- be added twice, `once` listeners retire before they run, and an emit works
-- on a snapshot (a listener removed during an emit still runs for it). Each
-- listener runs in its own coroutine from mainhost.runner, so it may wait.
local runner = require("mainhost.runner")

local M = {}

local function check_name(name, fname)
  if type(name) ~= "string" then
    error(("bad argument #1 to '%s' (string expected, got %s)"):format(fname, type(name)), 4)
  end
end

--- Adds the EventEmitter methods to obj (callable as obj.on(...) or
--- obj:on(...)) and returns obj. obj.emit(name, ...) calls the listeners.
--- The second result is the table of unbound methods (for our own modules:
--- methods.emit(name, ...) skips the obj.emit wrapper).
---@generic T
---@param obj T
---@return T
---@return table
function M.mixin(obj)
  local lists, order = {}, {}
  -- name -> number of listeners, readable without a call (the host checks
  -- it on every message before building an ipc-message event).
  local counts = {}
  rawset(obj, "_listenerCounts", counts)
  -- name -> "listener for 'name'", the runner's label for error reports,
  -- made once per name rather than concatenated on every emit.
  local labels = {}

  local function drop(name)
    lists[name] = nil
    counts[name] = nil
    labels[name] = nil
    for i = #order, 1, -1 do
      if order[i] == name then
        table.remove(order, i)
        break
      end
    end
  end

  local function remove_entry(name, entry)
    local l = lists[name]
    if not l then return end
    for i = #l, 1, -1 do
      if l[i] == entry then
        table.remove(l, i)
        break
      end
    end
    counts[name] = #l
    if #l == 0 then drop(name) end
  end

  local function add(name, fn, once, prepend, fname)
    check_name(name, fname)
    if type(fn) ~= "function" then
      error(("bad argument #2 to '%s' (function expected, got %s)"):format(fname, type(fn)), 4)
    end
    local l = lists[name]
    if not l then
      l = {}
      lists[name] = l
      order[#order + 1] = name
    end
    local entry = { fn = fn, once = once }
    if prepend then table.insert(l, 1, entry) else l[#l + 1] = entry end
    counts[name] = #l
    return obj
  end

  local methods = {}
  function methods.on(name, fn) return add(name, fn, false, false, "on") end
  methods.addListener = methods.on
  function methods.once(name, fn) return add(name, fn, true, false, "once") end
  function methods.prependListener(name, fn) return add(name, fn, false, true, "prependListener") end
  function methods.prependOnceListener(name, fn) return add(name, fn, true, true, "prependOnceListener") end
  function methods.removeListener(name, fn)
    local l = lists[name]
    if l then
      for i = #l, 1, -1 do
        if l[i].fn == fn then
          remove_entry(name, l[i])
          break
        end
      end
    end
    return obj
  end
  methods.off = methods.removeListener
  function methods.removeAllListeners(name)
    if name == nil then
      lists, order, labels = {}, {}, {}
      for k in pairs(counts) do counts[k] = nil end
    elseif lists[name] then
      drop(name)
    end
    return obj
  end
  function methods.listenerCount(name)
    local l = lists[name]
    return l and #l or 0
  end
  function methods.listeners(name)
    local out = {}
    for i, entry in ipairs(lists[name] or {}) do out[i] = entry.fn end
    return out
  end
  function methods.eventNames()
    return { table.unpack(order) }
  end
  --- Calls every listener of name with (...); true when there was one.
  function methods.emit(name, ...)
    local l = lists[name]
    if not l then return false end
    local label = labels[name]
    if not label then
      label = "listener for '" .. tostring(name) .. "'"
      labels[name] = label
    end
    if #l == 1 then -- one listener: it is its own snapshot (no table per emit)
      local entry = l[1]
      if entry.once then remove_entry(name, entry) end
      runner.run(entry.fn, label, ...)
      return true
    end
    local snap = { table.unpack(l) }
    for _, entry in ipairs(snap) do
      -- A once listener retires at its own turn, just before it runs.
      if entry.once then remove_entry(name, entry) end
      runner.run(entry.fn, label, ...)
    end
    return true
  end

  return M.bind(obj, methods), methods
end

--- Sets obj[name] for each of methods so that both obj.name(...) and
--- obj:name(...) work (a first argument that is obj itself is dropped).
function M.bind(obj, methods)
  for name, f in pairs(methods) do
    obj[name] = function(a, ...)
      if a == obj then return f(...) end
      return f(a, ...)
    end
  end
  return obj
end

--- An event object for lifecycle events: preventDefault() sets defaultPrevented.
function M.event(fields)
  local ev = fields or {}
  ev.defaultPrevented = false
  ev.preventDefault = function() ev.defaultPrevented = true end
  return ev
end

return M
