-- `meson install` of the build under test into a temporary DESTDIR, then the
-- installed files used as a user would use them, from a temporary directory
-- and with no MAINHOST_* (or LUA_PATH) variable: the installed `mainhost`
-- runs the hello example on its installed Lua modules, a tiny C renderer
-- compiles and links with `pkg-config --cflags --libs mainhost-renderer`
-- against the installed header and library and runs under the installed
-- host, a Node renderer uses the installed ipc-renderer.js, the man page is
-- in man1, and the installed LuaLS types parse and name every public
-- function and field of mainhost, mainhost.renderer and mainhost.test.
--
-- The build under test is the one MAINHOST_BIN belongs to
-- (BUILD/host/mainhost); it is installed as it is (--no-rebuild), so build it
-- first (scripts/build).
local t = require("mainhost.test")
local uv = require("luv")

local ROOT = (function()
  local src = debug.getinfo(1, "S").source:sub(2)
  local dir = src:match("^(.*)/spec/[^/]+$") or "."
  if dir:sub(1, 1) ~= "/" then dir = uv.cwd() .. "/" .. dir end
  return dir
end)()
local BUILD = assert(t.bin:match("^(.*)/host/[^/]+$"), "MAINHOST_BIN must be BUILD/host/mainhost")

local function exists(path) return uv.fs_stat(path) ~= nil end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function have(program)
  return os.execute("command -v " .. program .. " >/dev/null 2>&1") == true
end

-- The names of the files in dir (not recursive), sorted.
local function list(dir)
  local out = {}
  local it = uv.fs_scandir(dir)
  while it do
    local name = uv.fs_scandir_next(it)
    if not name then break end
    out[#out + 1] = name
  end
  table.sort(out)
  return out
end

-- A renderer's lines reach the host on another pipe than its messages, so
-- they may come before or after main's: compare lines in sorted order.
local function sorted(lines)
  table.sort(lines)
  return lines
end

-- Runs argv with every MAINHOST_* and LUA_* variable removed from the
-- environment, so only what was installed can be found.
local function clean(argv)
  local cmd = { "env" }
  for k in pairs(uv.os_environ()) do
    if k:match("^MAINHOST_") or k:match("^LUA_C?PATH") then
      cmd[#cmd + 1] = "-u"
      cmd[#cmd + 1] = k
    end
  end
  for _, a in ipairs(argv) do cmd[#cmd + 1] = a end
  return cmd
end

-- t.exec, and the command must succeed.
local function run(opts)
  local r = t.exec(opts)
  assert.is_false(r.timed_out, table.concat(opts.cmd, " ") .. " hung:\n" .. r.stdout .. r.stderr)
  assert.are.equal(0, r.code, table.concat(opts.cmd, " ") .. " failed:\n" .. r.stdout .. r.stderr)
  return r
end

-- Set up once by the first test that needs it.
local I -- { destdir, prefix, bin, luadir, libdir, pkg }

local function install()
  if I then return I end
  local destdir = t.tempdir() .. "/root"
  run({ cmd = { "meson", "install", "-C", BUILD, "--destdir", destdir, "--no-rebuild", "--quiet" },
    timeout = 300000 })
  -- The prefix the build was configured with, from the installed .pc file.
  local pcdir
  local function find(dir)
    for _, name in ipairs(list(dir)) do
      local p = dir .. "/" .. name
      if name == "mainhost-renderer.pc" then pcdir = dir end
      local st = uv.fs_lstat(p)
      if not pcdir and st and st.type == "directory" then find(p) end
    end
  end
  find(destdir)
  assert(pcdir, "no mainhost-renderer.pc under " .. destdir)
  -- pkg-config on the staged files: PKG_CONFIG_SYSROOT_DIR puts DESTDIR in
  -- front of the paths it prints, as for any staged install.
  local function pkg(...)
    local cmd = { "env", "PKG_CONFIG_PATH=" .. pcdir, "PKG_CONFIG_SYSROOT_DIR=" .. destdir, "pkg-config", ... }
    return (run({ cmd = cmd }).stdout:gsub("%s+$", ""))
  end
  local function var(name) -- as configured, without DESTDIR
    local cmd = { "env", "PKG_CONFIG_PATH=" .. pcdir, "pkg-config", "--variable=" .. name, "mainhost-renderer" }
    return (run({ cmd = cmd }).stdout:gsub("%s+$", ""))
  end
  local prefix = destdir .. var("prefix")
  I = {
    destdir = destdir,
    prefix = prefix,
    bin = prefix .. "/bin/mainhost",
    luadir = prefix .. "/share/mainhost/lua",
    libdir = destdir .. var("libdir"),
    pkg = pkg,
  }
  return I
end

-- Copies the files of a source directory (not recursive) into dir.
local function copy_dir(from, to)
  uv.fs_mkdir(to, 493)
  for _, name in ipairs(list(from)) do
    local st = uv.fs_stat(from .. "/" .. name)
    if st.type == "file" then t.write(to, { [name] = read(from .. "/" .. name) }) end
  end
  return to
end

describe("mainhost installed", function()
-- One install for the whole file, removed at its end.
teardown(t.cleanup)

describe("meson install", function()
  it("puts mainhost in bindir and the Lua modules and their types in <datadir>/mainhost/lua", function()
    local i = install()
    assert.is_true(exists(i.bin), "no " .. i.bin)
    for _, sub in ipairs({ "mainhost", "types/mainhost" }) do
      local src = list(ROOT .. "/lua/" .. sub)
      assert.is_true(#src > 0)
      assert.are.same(src, list(i.luadir .. "/" .. sub))
      for _, name in ipairs(src) do
        assert.are.equal(read(ROOT .. "/lua/" .. sub .. "/" .. name), read(i.luadir .. "/" .. sub .. "/" .. name),
          sub .. "/" .. name .. " differs")
      end
    end
  end)

  it("the installed mainhost prints its version and usage with no environment variables", function()
    local i = install()
    local r = run({ cmd = clean({ i.bin, "--version" }), cwd = i.destdir })
    assert.matches("^mainhost %d+%.%d+%.%d+ %(protocol %d+%)\n$", r.stdout)
    r = run({ cmd = clean({ i.bin, "--help" }), cwd = i.destdir })
    assert.matches("usage: mainhost", r.stdout, 1, true)
  end)

  it("the installed mainhost runs the hello example from a copy, on its installed modules", function()
    local i = install()
    local app = copy_dir(ROOT .. "/scripts/examples/hello", t.tempdir() .. "/hello")
    local r = run({ cmd = clean({ i.bin, app }), cwd = app })
    assert.are.equal("", r.stderr)
    -- (A renderer's lines reach the host on another pipe than its
    -- messages, so main's last line may come before the renderer's.)
    local lines = t.lines(r.stdout)
    assert.are.equal(5, #lines, r.stdout)
    for _, line in ipairs({ 'main: got ping "hello from ui" from renderer 1', "[ui] ui: got pong HELLO FROM UI",
                            "[ui] ui: 2 + 3 = 5", "main: renderer is done, quitting" }) do
      assert.matches("\n" .. line .. "\n", "\n" .. r.stdout, 1, true)
    end
    assert.matches("\n%[ui%] ui: the time in main is %d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ\n", "\n" .. r.stdout)
  end)

  it("finds its modules under the prefix, in the main script and in a Lua renderer", function()
    local i = install()
    local app = t.write(t.tempdir(), {
      ["main.lua"] = [[
        local mh = require("mainhost")
        print("main " .. package.searchpath("mainhost", package.path))
        mh.ipcMain.once("where", function(_, path)
          print("renderer " .. path)
          mh.app.quit()
        end)
        mh.createRenderer({ script = "r.lua" })
      ]],
      ["r.lua"] = [[
        local R = require("mainhost.renderer")
        R.ipcRenderer.send("where", package.searchpath("mainhost.renderer", package.path))
      ]],
    })
    local r = run({ cmd = clean({ i.bin, app .. "/main.lua" }), cwd = app })
    local real = uv.fs_realpath(i.luadir)
    assert.are.same({ "main " .. real .. "/mainhost/init.lua", "renderer " .. real .. "/mainhost/renderer.lua" },
      t.lines(r.stdout))
  end)

  it("the installed `mainhost test` runs a user's spec with mainhost.test", function()
    local i = install()
    local dir = t.write(t.tempdir(), {
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.ipcMain.handle("add", function(_, a, b) return a + b end)
      ]],
      ["spec/add_spec.lua"] = [[
        local t = require("mainhost.test")
        describe("main.lua", function()
          after_each(t.reset)
          it("adds", function()
            t.load("main.lua")
            local r = t.renderer()
            assert.are.same({ 5 }, { r:invoke("add", 2, 3) })
          end)
        end)
      ]],
    })
    local r = run({ cmd = clean({ i.bin, "test", "-o", "TAP" }), cwd = dir })
    assert.matches("\nok 1 ", "\n" .. r.stdout, 1, true)
    assert.not_matches("not ok", r.stdout, 1, true)
  end)

  it("installs the man page in man1", function()
    local i = install()
    local page = i.prefix .. "/share/man/man1/mainhost.1"
    assert.are.equal(read(ROOT .. "/docs/mainhost.1"), read(page))
    local text = read(page)
    for _, section in ipairs({ "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "FILES", "ENVIRONMENT",
                               "EXIT STATUS", "SEE ALSO" }) do
      assert.matches("\n.SH " .. section .. "\n", text, 1, true)
    end
    for _, word in ipairs({ "trace", "renderer", "exec", "test", "stats", "help", "version",
                            "MAINHOST_IPC_FD", "MAINHOST_LUA_DIR", "MAINHOST_COUNTERS", "MAINHOST_BIN" }) do
      assert.matches(word, text, 1, true)
    end
    if have("groff") then
      -- groff reads it without a warning.
      local r = run({ cmd = { "groff", "-man", "-Tutf8", "-ww", "-z", page } })
      assert.are.equal("", r.stderr)
    end
  end)

  it("installs the header and a pkg-config file that point at the installed library", function()
    local i = install()
    assert.are.equal(read(ROOT .. "/include/mainhost/renderer.h"), read(i.prefix .. "/include/mainhost/renderer.h"))
    local version = run({ cmd = clean({ i.bin, "--version" }) }).stdout:match("^mainhost (%S+)")
    assert.are.equal(version, i.pkg("--modversion", "mainhost-renderer"))
    local flags = " " .. i.pkg("--cflags", "--libs", "mainhost-renderer") .. " "
    assert.matches(" -I" .. i.prefix .. "/include ", flags, 1, true)
    assert.matches(" -L" .. i.libdir .. " ", flags, 1, true)
    assert.matches(" -lmainhost-renderer ", flags, 1, true)
    assert.is_true(exists(i.libdir .. "/libmainhost-renderer.so"))
  end)

  it("a tiny C renderer compiles against the installed library and talks to the installed host", function()
    local i = install()
    local dir = t.write(t.tempdir(), {
      ["tiny.c"] = [[
#include <stdio.h>
#include <stdlib.h>

#include <mainhost/renderer.h>

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  mh_client_t *c;
  int rc = mh_client_connect(NULL, &c);
  if (rc < 0) {
    fprintf(stderr, "tiny: %s\n", uv_strerror(rc));
    return 1;
  }
  mh_client_hello(c);
  char *error = NULL;
  json_t *args = json_pack("[ii]", 2, 3);
  json_t *sum = mh_client_invoke_sync(c, "add", args, 0, &error);
  json_decref(args);
  if (!sum) {
    printf("tiny: %s\n", error);
    free(error);
  } else {
    printf("tiny: 2 + 3 = %lld (protocol %d)\n", (long long)json_integer_value(json_array_get(sum, 0)),
           MH_CLIENT_PROTOCOL_VERSION);
    json_decref(sum);
  }
  mh_client_send(c, "done", NULL, 0);
  mh_client_run(c);
  mh_client_close(c);
  return 0;
}
]],
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.ipcMain.handle("add", function(_, a, b) return a + b end)
        mh.ipcMain.once("done", function() print("main: done"); mh.app.quit() end)
      ]],
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "tiny", command = { "./tiny" } } } },
    })
    -- A sanitizer build's library needs its runtime in the program too.
    local cmd = { "cc", "-o", dir .. "/tiny", dir .. "/tiny.c" }
    local opts = require("mainhost").json.decode(read(BUILD .. "/meson-info/intro-buildoptions.json"))
    for _, o in ipairs(opts) do
      local v = type(o.value) == "table" and table.concat(o.value, ",") or o.value
      if o.name == "b_sanitize" and v ~= "none" and v ~= "" then cmd[#cmd + 1] = "-fsanitize=" .. v end
    end
    for flag in i.pkg("--cflags", "--libs", "mainhost-renderer"):gmatch("%S+") do cmd[#cmd + 1] = flag end
    cmd[#cmd + 1] = "-Wl,-rpath," .. i.libdir
    run({ cmd = cmd, cwd = dir })
    local r = run({ cmd = clean({ i.bin, dir }), cwd = dir })
    assert.are.same({ "[tiny] tiny: 2 + 3 = 5 (protocol 1)", "main: done" }, sorted(t.lines(r.stdout)))
  end)

  local node_it = have("node") and it or function(description)
    it(description, function() pending("node is not installed (not found in PATH)") end)
  end

  node_it("installs the Node helper, and a Node renderer uses it from there", function()
    local i = install()
    local helper = i.prefix .. "/share/mainhost/clients/node/ipc-renderer.js"
    assert.are.equal(read(ROOT .. "/clients/node/ipc-renderer.js"), read(helper))
    local dir = t.write(t.tempdir(), {
      ["r.js"] = [[
const { ipcRenderer } = require(process.argv[2]);
ipcRenderer.invoke('add', 2, 3).then((sum) => {
  console.log('node: 2 + 3 = ' + sum);
  ipcRenderer.send('done');
});
]],
      ["main.lua"] = [[
        local mh = require("mainhost")
        mh.ipcMain.handle("add", function(_, a, b) return a + b end)
        mh.ipcMain.once("done", function() print("main: done"); mh.app.quit() end)
      ]],
      ["mainhost.json"] = { main = "main.lua", renderers = { { name = "node", command = { "node", "r.js", helper } } } },
    })
    local r = run({ cmd = clean({ i.bin, dir }), cwd = dir })
    assert.are.same({ "[node] node: 2 + 3 = 5", "main: done" }, sorted(t.lines(r.stdout)))
  end)
end)

-- ---- the LuaLS types ------------------------------------------------------------

-- What the annotation files declare: class name -> set of members (its
-- ---@field lines, and the functions defined on the local that follows the
-- class block: `local X = {}` ... `function X.name(` or `function X:name(`).
local function declared(files)
  local members = {}
  local class_of = {} -- local name -> class
  for _, text in ipairs(files) do
    local current
    for line in text:gmatch("[^\n]*") do
      local class = line:match("^%-%-%-@class ([%w%._]+)")
      local field = line:match("^%-%-%-@field ([%w_]+)")
      local loc = line:match("^local ([%w_]+) = {}")
      local owner, name = line:match("^function ([%w_]+)[%.:]([%w_]+)%(")
      if class then
        current = class
        members[class] = members[class] or {}
      elseif field and current then
        members[current][field] = true
      elseif loc and current then
        class_of[loc] = current
        current = nil
      elseif not line:match("^%-%-%-") then
        current = nil
      end
      if owner then
        local c = assert(class_of[owner], "function " .. owner .. "." .. name .. " before its class")
        members[c][name] = true
      end
    end
  end
  return members
end

local function types()
  local dir = install().luadir .. "/types/mainhost"
  local files = {}
  for _, name in ipairs(list(dir)) do files[#files + 1] = read(dir .. "/" .. name) end
  return declared(files)
end

-- Every public key of obj (not starting with "_") is a member of class.
local function assert_covers(members, class, obj, extra)
  assert(members[class], "no class " .. class)
  local missing = {}
  for k in pairs(obj) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and not members[class][k] and not (extra and extra[k]) then
      missing[#missing + 1] = k
    end
  end
  table.sort(missing)
  assert.are.same({}, missing, class .. " lacks annotations for these")
end

describe("the installed LuaLS types", function()
  after_each(t.reset)

  it("parse as Lua 5.4 and are ---@meta files", function()
    local dir = install().luadir .. "/types/mainhost"
    local names = list(dir)
    assert.are.same({ "async.lua", "init.lua", "renderer.lua", "test.lua" }, names)
    for _, name in ipairs(names) do
      assert(loadfile(dir .. "/" .. name, "t"))
      assert.matches("^%-%-%-@meta mainhost", read(dir .. "/" .. name))
    end
  end)

  it("name every public function and field of require('mainhost')", function()
    local m = types()
    local mh = require("mainhost")
    assert_covers(m, "mainhost", mh, m["mainhost.Async"])
    assert_covers(m, "mainhost.IpcMain", mh.ipcMain)
    assert_covers(m, "mainhost.App", mh.app)
    assert_covers(m, "mainhost.WebContentsModule", mh.webContents)
    assert_covers(m, "mainhost.Json", mh.json)
    assert_covers(m, "mainhost.Async", require("mainhost.async"))
    local r = t.renderer({ name = "typed" })
    assert_covers(m, "mainhost.WebContents", r.webContents)
    assert_covers(m, "mainhost.IpcMain", r.webContents.ipc)
  end)

  it("name every public function and field of require('mainhost.test') and its renderers", function()
    local m = types()
    assert_covers(m, "mainhost.test", t)
    local r = t.renderer()
    assert_covers(m, "mainhost.TestRenderer", r)
    assert_covers(m, "mainhost.TestRenderer", getmetatable(r).__index)
    assert_covers(m, "mainhost.ExecResult", t.exec({ cmd = { "true" } }))
  end)

  it("name every public function and field of require('mainhost.renderer')", function()
    local m = types()
    local i = install()
    local dir = t.write(t.tempdir(), {
      ["keys.lua"] = [[
        local R = require("mainhost.renderer")
        local function keys(what, t)
          for k in pairs(t) do print(what .. " " .. tostring(k)) end
        end
        keys("module", R)
        keys("ipcRenderer", R.ipcRenderer)
        keys("frame", R.openFrame())
      ]],
    })
    -- Without a host: require works, only sending would fail.
    local r = run({ cmd = clean({ i.bin, "--renderer", "keys.lua" }), cwd = dir })
    local seen = { module = {}, ipcRenderer = {}, frame = {} }
    for _, line in ipairs(t.lines(r.stdout)) do
      local what, k = line:match("^(%S+) (%S+)$")
      seen[what][k] = true
    end
    assert.is_true(seen.ipcRenderer.invoke)
    assert_covers(m, "mainhost.renderer", seen.module)
    assert_covers(m, "mainhost.IpcRenderer", seen.ipcRenderer)
    assert_covers(m, "mainhost.RendererFrame", seen.frame)
  end)
end)
end)
