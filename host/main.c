/* main.c: the mainhost command line: run an app, run a Lua renderer, run
 * busted specs, print help or the version. Exit codes: 0 success (or the
 * code given to app.quit), 1 a failure while running (the main script
 * raised, Lua could not start), 2 a usage or config error (nothing was
 * started). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lconv.h"
#include "lstate.h"
#include "mh_build.h"
#include "mh_config.h"
#include "mh_host.h"
#include "mh_trace.h"
#include "mh_zygote.h"

int mh_renderer_main(int argc, char **argv);

static const char usage[] =
    "usage: mainhost [--trace[=FILE]] APP\n"
    "                                    run an app: a directory holding mainhost.json,\n"
    "                                    a *.json config, or a single *.lua main script;\n"
    "                                    --trace writes every IPC message as a JSON line\n"
    "                                    to FILE (default: stderr)\n"
    "       mainhost stats TRACE         summarise a trace: messages and bytes per\n"
    "                                    channel, slowest handlers (p50/p99)\n"
    "       mainhost --renderer SCRIPT.lua [ARGS...]\n"
    "                                    run a Lua renderer (what a config's \"script\" runs)\n"
    "       mainhost test [BUSTED ARGS]  run busted specs with the mainhost modules on the path\n"
    "       mainhost --help | --version\n"
    "\n"
    "Exit status: 0 on success or the code passed to app.quit(code); 1 when the main\n"
    "script fails; 2 for a usage or config error (nothing is started then).\n";

/* `mainhost --exec PROGRAM ARGS...`: how the host starts a renderer that
 * is not a Lua script. It ties the renderer's life to the host's (the
 * kernel kills it if the host dies, even by SIGKILL), then becomes the
 * program. 127 means it could not. */
static int exec_shim(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mainhost --exec PROGRAM [ARGS...]\n");
    return 2;
  }
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 127;  /* the host is already gone */
  execvp(argv[2], argv + 2);
  fprintf(stderr, "mainhost: cannot run '%s': %s\n", argv[2], strerror(errno));
  return errno == EACCES ? 126 : 127;
}

int mh_ltest_open(lua_State *L);

/* `mainhost stats TRACE`: lua/mainhost/stats.lua, run by this binary (it
 * has the JSON decoder). */
static int run_stats(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L) return 1;
  luaL_openlibs(L);
  mh_lstate_add_path(L, mh_lstate_luadir());
  luaL_requiref(L, "mainhost.json", mh_lconv_open_json, 0);
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mainhost.stats");
  int rc = 1;
  if (mh_lstate_pcall(L, 1, 1, "mainhost stats") == LUA_OK) {
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 2; i < argc; i++) {
      lua_pushstring(L, argv[i]);
      lua_rawseti(L, -2, i - 1);
    }
    if (mh_lstate_pcall(L, 1, 1, "mainhost stats") == LUA_OK) rc = (int)lua_tointeger(L, -1);
  }
  lua_close(L);
  return rc;
}

/* `mainhost test [BUSTED ARGS]`: busted (Debian's lua-busted) runs inside
 * this binary, on a host with no app, with our modules first on the path:
 * specs get require("mainhost") for real and mainhost.test's in-process
 * renderers, and MAINHOST_BIN names this binary for real-process specs. */
static int run_tests(int argc, char **argv) {
  setenv("MAINHOST_BIN", mh_lstate_exe(), 1);
  static mh_renderer_conf_t none[1];
  mh_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
  cfg.dir = cwd;
  cfg.renderers = none;
  cfg.limits.max_message_bytes = MH_DEFAULT_MAX_MESSAGE_BYTES;
  cfg.limits.max_depth = MH_DEFAULT_MAX_DEPTH;
  cfg.limits.max_queued_bytes = MH_DEFAULT_MAX_QUEUED_BYTES;
  cfg.limits.max_pending_invokes = MH_DEFAULT_MAX_PENDING_INVOKES;
  cfg.limits.max_pending_sync = MH_DEFAULT_MAX_PENDING_SYNC;
  cfg.limits.quit_timeout_ms = MH_DEFAULT_QUIT_TIMEOUT_MS;
  lua_State *L = mh_host_test_open(&cfg);
  if (!L) return 1;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, mh_ltest_open);
  lua_setfield(L, -2, "mainhost.testhost");
  lua_pop(L, 1);
  /* arg as /usr/bin/busted would see it. */
  lua_createtable(L, argc, 1);
  lua_pushstring(L, "/usr/bin/busted");
  lua_rawseti(L, -2, 0);
  for (int i = 2; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  static const char boot[] = "require('busted.runner')({ standalone = false })";
  if (luaL_loadbuffer(L, boot, sizeof boot - 1, "=busted") != LUA_OK ||
      mh_lstate_pcall(L, 0, 0, "busted") != LUA_OK) {
    fprintf(stderr, "mainhost test: is lua-busted installed (apt-get install lua-busted)?\n");
    return 1;
  }
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *a = argv[1];
  if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(a, "--version") || !strcmp(a, "-v")) {
    printf("mainhost %s (protocol %d)\n", MH_VERSION, MH_PROTOCOL_VERSION);
    return 0;
  }
  if (!strcmp(a, "--renderer")) return mh_renderer_main(argc, argv);
  if (!strcmp(a, "--exec")) return exec_shim(argc, argv);
  if (!strcmp(a, "--zygote")) return mh_zygote_main(argc, argv);
  if (!strcmp(a, "test")) return run_tests(argc, argv);
  if (!strcmp(a, "stats")) return run_stats(argc, argv);
  const char *trace = NULL;
  int tracing = 0;
  if (!strncmp(a, "--trace", 7) && (a[7] == 0 || a[7] == '=')) {
    tracing = 1;
    trace = a[7] == '=' ? a + 8 : NULL;
    argv++;
    argc--;
    if (argc < 2) {
      fputs(usage, stderr);
      return 2;
    }
    a = argv[1];
  }
  if (a[0] == '-') {
    fprintf(stderr, "mainhost: unknown option '%s'\n%s", a, usage);
    return 2;
  }
  if (argc > 2 && argv[2][0] == '-' && argv[2][1]) {
    fprintf(stderr, "mainhost: options go before APP ('%s' comes after it)\n%s", argv[2], usage);
    return 2;
  }
  if (argc > 2) {
    fprintf(stderr, "mainhost: one APP at a time ('%s' is extra)\n", argv[2]);
    return 2;
  }
  mh_config_t cfg;
  char err[1024];
  if (mh_config_load(&cfg, a, err, sizeof err) != 0) {
    fprintf(stderr, "mainhost: config error: %s\n", err);
    return 2;
  }
  if (tracing) {
    if (mh_trace_start(trace) != 0) {
      fprintf(stderr, "mainhost: cannot write the trace to %s: %s\n", trace, strerror(errno));
      mh_config_close(&cfg);
      return 2;
    }
    mh_lipc_set_trace_path(trace);
  }
  int code = mh_host_main(&cfg);
  mh_trace_stop();
  mh_config_close(&cfg);
  return code;
}
