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

#include "lstate.h"
#include "mh_build.h"
#include "mh_config.h"
#include "mh_host.h"

int mh_renderer_main(int argc, char **argv);

static const char usage[] =
    "usage: mainhost APP                 run an app: a directory holding mainhost.json,\n"
    "                                    a *.json config, or a single *.lua main script\n"
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

static int run_tests(int argc, char **argv) {
  /* busted runs under this machine's Lua 5.4 with our modules first on the
   * path; specs require("mainhost.test") to drive real hosts. */
  const char *dir = mh_lstate_luadir();
  const char *old = getenv("LUA_PATH_5_4");
  if (!old) old = getenv("LUA_PATH");
  size_t n = strlen(dir) * 2 + (old ? strlen(old) : 0) + 64;
  char *path = malloc(n);
  if (!path) return 1;
  snprintf(path, n, "%s/?.lua;%s/?/init.lua;%s", dir, dir, old ? old : ";");
  setenv("LUA_PATH_5_4", path, 1);
  free(path);
  setenv("MAINHOST_BIN", mh_lstate_exe(), 1);
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) return 1;
  args[0] = "lua5.4";
  args[1] = "/usr/bin/busted";
  for (int i = 2; i < argc; i++) args[i] = argv[i];
  execvp("lua5.4", args);
  perror("mainhost test: cannot run lua5.4 /usr/bin/busted (is lua-busted installed?)");
  return 2;
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
  if (!strcmp(a, "test")) return run_tests(argc, argv);
  if (a[0] == '-') {
    fprintf(stderr, "mainhost: unknown option '%s'\n%s", a, usage);
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
  int code = mh_host_main(&cfg);
  mh_config_close(&cfg);
  return code;
}
