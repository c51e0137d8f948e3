-- mainhost.stats: `mainhost stats TRACE`: reads a trace written by
-- `mainhost --trace=FILE` (one JSON object per line) and prints messages and
-- bytes per channel, and the slowest handlers by round trip (p50, p99, max).
local json = require("mainhost.json")

local M = {}

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.max(1, math.ceil(p / 100 * #sorted))
  return sorted[i]
end

local function human(bytes)
  if bytes >= 1 << 20 then return ("%.1f MiB"):format(bytes / (1 << 20)) end
  if bytes >= 1 << 10 then return ("%.1f KiB"):format(bytes / (1 << 10)) end
  return ("%d B"):format(bytes)
end

--- Summarises the lines of a trace; returns the report as a string.
function M.summarise(lines)
  local chans, rtts, order = {}, {}, {}
  local total, bad = 0, 0
  for line in lines do
    if line ~= "" then
      local r = json.decode(line)
      -- A trace record: an object whose fields have their types.
      local ok = type(r) == "table" and r[1] == nil and (r.dir == "in" or r.dir == "out")
        and (r.channel == nil or type(r.channel) == "string")
        and (r.bytes == nil or math.type(r.bytes) == "integer")
        and (r.rtt_ms == nil or type(r.rtt_ms) == "number")
      if not ok then
        bad = bad + 1
      else
        total = total + 1
        local ch = r.channel or "(no channel)"
        local c = chans[ch]
        if not c then
          c = { n_in = 0, n_out = 0, bytes = 0 }
          chans[ch] = c
          order[#order + 1] = ch
        end
        if r.dir == "in" then c.n_in = c.n_in + 1 else c.n_out = c.n_out + 1 end
        c.bytes = c.bytes + (r.bytes or 0)
        if r.rtt_ms then
          rtts[ch] = rtts[ch] or {}
          table.insert(rtts[ch], r.rtt_ms)
        end
      end
    end
  end
  table.sort(order, function(a, b)
    local x, y = chans[a], chans[b]
    if x.n_in + x.n_out ~= y.n_in + y.n_out then return x.n_in + x.n_out > y.n_in + y.n_out end
    return a < b
  end)
  local out = {}
  out[#out + 1] = ("%d messages%s"):format(total, bad > 0 and (" (%d unreadable lines)"):format(bad) or "")
  out[#out + 1] = ""
  out[#out + 1] = ("%-32s %10s %10s %12s"):format("channel", "in", "out", "bytes")
  for _, ch in ipairs(order) do
    local c = chans[ch]
    out[#out + 1] = ("%-32s %10d %10d %12s"):format(ch, c.n_in, c.n_out, human(c.bytes))
  end
  local slow = {}
  for ch, list in pairs(rtts) do
    table.sort(list)
    slow[#slow + 1] = { ch = ch, n = #list, p50 = percentile(list, 50), p99 = percentile(list, 99), max = list[#list] }
  end
  table.sort(slow, function(a, b) return a.p99 > b.p99 end)
  if #slow > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "slowest handlers (invoke and sendSync round trips, ms)"
    out[#out + 1] = ("%-32s %8s %10s %10s %10s"):format("channel", "calls", "p50", "p99", "max")
    for _, s in ipairs(slow) do
      out[#out + 1] = ("%-32s %8d %10.3f %10.3f %10.3f"):format(s.ch, s.n, s.p50, s.p99, s.max)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

--- Entry point: main({TRACE}) -> exit code.
function M.main(args)
  local path = args[1]
  if not path then
    io.stderr:write("usage: mainhost stats TRACE (a file written by mainhost --trace=FILE; - for stdin)\n")
    return 2
  end
  local f, err
  if path == "-" then f = io.stdin else f, err = io.open(path, "r") end
  if not f then
    io.stderr:write("mainhost stats: ", tostring(err), "\n")
    return 1
  end
  io.write(M.summarise(f:lines()))
  if f ~= io.stdin then f:close() end
  return 0
end

return M
