-- spec/support/app.lua: what the specs share: preludes for the main script
-- and the renderers, app runners, and readers of what the app printed.
local t = require("mainhost.test")
local assert = require("luassert") -- busted gives spec files theirs; a module takes it

local M = {}

-- Every main script starts with this: `say` prints a "main: " line the spec
-- reads back; `quit_on(ch)` ends the app when a renderer sends ch.
M.MAIN_PRELUDE = [[
local mh = require("mainhost")
local ipcMain = mh.ipcMain
local uv = require("luv")
local function say(...)
  local p = table.pack(...)
  for i = 1, p.n do p[i] = tostring(p[i]) end
  print("main: " .. table.concat(p, " ", 1, p.n))
end
local function quit_on(ch) ipcMain.on(ch, function() mh.app.quit() end) end
-- Quits once n renderers have sent "done".
local function quit_after(n)
  local seen = 0
  ipcMain.on("done", function()
    seen = seen + 1
    if seen == n then mh.app.quit() end
  end)
end
]]

-- The start of a Python renderer (stdlib only): `sock` is the IPC socket on
-- fd 3; send(bytes) writes it all; read_line() reads one line (None at
-- EOF); say(...) prints a line the host passes on as "[NAME] ...";
-- print_results_until(*needles) reads until every needle (bytes) has come,
-- then prints each result line that came.
M.PY = [==[
import json, os, socket, sys
sock = socket.socket(fileno=int(os.environ["MAINHOST_IPC_FD"]))
sock.setblocking(True)

def send(data):
    sock.sendall(data)

_buf = b""
def read_line():
    global _buf
    while b"\n" not in _buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        _buf += chunk
    line, _buf = _buf.split(b"\n", 1)
    return line

def say(*a):
    print(*a, flush=True)

def print_results_until(*needles):
    global _buf
    while not all(n in _buf for n in needles):
        chunk = sock.recv(65536)
        if not chunk:
            break
        _buf += chunk
    for line in _buf.split(b"\n"):
        if b'"result"' in line:
            print(line.decode(), flush=True)
    _buf = b""
]==]

-- Every renderer starts with this: `say` prints a line the host passes
-- through as "[name] ...".
M.UI_PRELUDE = [[
local R = require("mainhost.renderer")
local ipc = R.ipcRenderer
local uv = require("luv")
local function say(...)
  local p = table.pack(...)
  for i = 1, p.n do p[i] = tostring(p[i]) end
  print(table.concat(p, " ", 1, p.n))
end
]]

-- Runs main (a main-script body) with renderers: a string (one renderer
-- "ui") or a list of { name, body }. Returns the exec result plus .main
-- (the full main source).
function M.run(main, renderers)
  if type(renderers) == "string" then renderers = { { "ui", renderers } } end
  local main_src = M.MAIN_PRELUDE .. main
  local files = { ["main.lua"] = main_src }
  local list = {}
  for i, rd in ipairs(renderers) do
    files[rd[1] .. ".lua"] = M.UI_PRELUDE .. rd[2]
    list[i] = { name = rd[1], script = rd[1] .. ".lua" }
  end
  files["mainhost.json"] = { main = "main.lua", renderers = list }
  local r = t.run_app(files, { timeout = 20000 })
  assert.is_false(r.timed_out, "the app did not quit:\n" .. r.stdout .. r.stderr)
  r.main = main_src
  return r
end

function M.assert_ok(r)
  assert.are.equal(0, r.code, "exit code; stdout:\n" .. r.stdout .. "\nstderr:\n" .. r.stderr)
end

-- Runs an app (t.run_app's files and opts) and fails the spec if it hung.
function M.app(files, opts)
  local r = t.run_app(files, opts)
  assert.is_false(r.timed_out, "the app hung:\n" .. r.stdout .. r.stderr)
  return r
end

-- Runs an app of main.lua (main) and one Python renderer NAME running
-- M.PY .. py (r.py); config: more of mainhost.json (limits), timeout: the
-- guard (20 s unless given). Fails the spec if it hung.
function M.py_app(name, main, py, config, timeout)
  local json = { main = "main.lua", renderers = { { name = name, command = { "python3", "r.py" } } } }
  for k, v in pairs(config or {}) do json[k] = v end
  return M.app({ ["mainhost.json"] = json, ["main.lua"] = main, ["r.py"] = M.PY .. py },
    { timeout = timeout or 20000 })
end

-- The lines of text starting with prefix, without it, in order.
function M.lines_from(text, prefix)
  local out = {}
  for _, l in ipairs(t.lines(text)) do
    if l:sub(1, #prefix) == prefix then out[#out + 1] = l:sub(#prefix + 1) end
  end
  return out
end

-- The lines `who` printed ("main", or a renderer's name), in order.
function M.said(r, who)
  return M.lines_from(r.stdout, who == "main" and "main: " or ("[" .. who .. "] "))
end

-- The position of the first line of text equal to line, or nil.
function M.line_at(text, line)
  for i, l in ipairs(t.lines(text)) do
    if l == line then return i end
  end
end

function M.has_line(text, line) return M.line_at(text, line) ~= nil end

-- Fails unless text has the line (showing `all`, or text); returns its
-- position.
function M.assert_line(text, line, all)
  local i = M.line_at(text, line)
  assert(i, ("expected the line\n  %s\nin\n%s"):format(line, all or text))
  return i
end

function M.assert_no_line(text, line, all)
  assert(not M.line_at(text, line), ("did not expect the line\n  %s\nin\n%s"):format(line, all or text))
end

function M.sorted(list)
  table.sort(list)
  return list
end

-- The line number of the first line of src containing marker.
function M.line_of(src, marker)
  local n = 0
  for l in (src .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if l:find(marker, 1, true) then return n end
  end
  error("marker not found: " .. marker)
end

function M.count(s, needle)
  local n, i = 0, 1
  while true do
    local a, b = s:find(needle, i, true)
    if not a then return n end
    n, i = n + 1, b + 1
  end
end

return M
