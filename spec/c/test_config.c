/* test_config.c: unit tests for mh_config, on fixture apps and on apps
 * written into a fresh temporary directory so each rule gets its own file. */
/* realpath, strdup, mkdtemp, nftw: POSIX, not C11; meson passes _GNU_SOURCE. */
#ifndef _GNU_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "mh_config.h"
#include "mh_test.h"

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX];  /* realpath of the temporary directory */
static char errbuf[1024];

/* ---- helpers --------------------------------------------------------- */

static void mkdirs(const char *rel)
{
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", rel);
  for (char *p = buf + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      mkdir(buf, 0755);
      *p = '/';
    }
  }
  mkdir(buf, 0755);
}

/* Writes TEXT to REL (relative to the temporary root, the cwd), making
 * parent directories as needed. */
static void put(const char *rel, const char *text)
{
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", rel);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    mkdirs(dir);
  }
  FILE *f = fopen(rel, "w");
  if (!f) {
    perror(rel);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
}

/* "ROOT/REL" in a static buffer, for expected absolute paths. */
static const char *abspath(const char *rel)
{
  static char buf[2][PATH_MAX * 2];
  static int k;
  k ^= 1;
  snprintf(buf[k], sizeof buf[k], "%s/%s", root, rel);
  return buf[k];
}

static int is_empty(const mh_config_t *c)
{
  mh_config_t zero;
  memset(&zero, 0, sizeof zero);
  return memcmp(c, &zero, sizeof zero) == 0;
}

/* Loads APP expecting failure; the message, or "" on unexpected success. */
static const char *load_err(const char *app)
{
  mh_config_t c;
  memset(&c, 0xff, sizeof c);  /* the loader must not trust what it is given */
  int rc = mh_config_load(&c, app, errbuf, sizeof errbuf);
  CHECK_INT(rc, -1);
  CHECK(is_empty(&c));
  if (rc == 0) {
    mh_config_close(&c);
    return "";
  }
  return errbuf;
}

/* Writes JSON as e/mainhost.json (the app "e", with main.lua, ui.lua, a
 * sub/ dir and sub/ui.lua beside it) and returns load_err("e"). */
static const char *json_err(const char *json)
{
  put("e/mainhost.json", json);
  return load_err("e");
}

/* Expected message for app "e": "e/mainhost.json: " + printf(FMT, ...). */
static const char *msg(const char *fmt, ...)
{
  static char buf[1024];
  int n = snprintf(buf, sizeof buf, "e/mainhost.json: ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
  va_end(ap);
  return buf;
}

static int load_ok(mh_config_t *c, const char *app)
{
  int rc = mh_config_load(c, app, errbuf, sizeof errbuf);
  CHECK_INT(rc, 0);
  if (rc != 0)
    fprintf(stderr, "  load %s: %s\n", app, errbuf);
  return rc;
}

static size_t strv_len(char **v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

/* The limits a config without "limits" gets. */
static void check_default_limits(const mh_limits_t *l, int line)
{
  int before = mh_test_failures;
  CHECK_INT(l->max_message_bytes, MH_DEFAULT_MAX_MESSAGE_BYTES);
  CHECK_INT(l->max_depth, MH_DEFAULT_MAX_DEPTH);
  CHECK_INT(l->max_queued_bytes, MH_DEFAULT_MAX_QUEUED_BYTES);
  CHECK_INT(l->max_pending_invokes, MH_DEFAULT_MAX_PENDING_INVOKES);
  CHECK_INT(l->max_pending_sync, MH_DEFAULT_MAX_PENDING_SYNC);
  CHECK_INT(l->quit_timeout_ms, MH_DEFAULT_QUIT_TIMEOUT_MS);
  if (mh_test_failures != before)
    fprintf(stderr, "  (default limits checked from line %d)\n", line);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* ---- tests ----------------------------------------------------------- */

static void test_suggest(void)
{
  static const char *const top[] = {"main", "renderers", "limits", NULL};
  static const char *const rend[] = {"name", "script", "command", "args", "cwd", "env",
                                     "restart", "maxRestarts", "channels", NULL};
  static const char *const lim[] = {"maxMessageBytes", "maxDepth", "maxQueuedBytes",
                                    "maxPendingInvokes", "maxPendingSync", "quitTimeoutMs", NULL};
  static const char *const restart[] = {"never", "on-failure", "always", NULL};
  static const char *const pair[] = {"abcd", "abce", NULL};
  static const char *const none[] = {NULL};

  CHECK_STR(mh_config_suggest("scirpt", rend), "script");
  CHECK_STR(mh_config_suggest("mian", top), "main");
  CHECK_STR(mh_config_suggest("renderer", top), "renderers");
  CHECK_STR(mh_config_suggest("Renderers", top), "renderers");  /* case-insensitive */
  CHECK_STR(mh_config_suggest("LIMITS", top), "limits");
  CHECK_STR(mh_config_suggest("maxdepth", lim), "maxDepth");
  CHECK_STR(mh_config_suggest("maxMesageBytes", lim), "maxMessageBytes");
  CHECK_STR(mh_config_suggest("arg", rend), "args");
  CHECK_STR(mh_config_suggest("commands", rend), "command");
  CHECK_STR(mh_config_suggest("restarts", rend), "restart");
  CHECK_STR(mh_config_suggest("maxRestart", rend), "maxRestarts");
  CHECK_STR(mh_config_suggest("max_restarts", rend), "maxRestarts");
  CHECK_STR(mh_config_suggest("channel", rend), "channels");
  CHECK_STR(mh_config_suggest("Channels", rend), "channels");
  CHECK_STR(mh_config_suggest("maxQueueBytes", lim), "maxQueuedBytes");
  CHECK_STR(mh_config_suggest("maxPendingInvoke", lim), "maxPendingInvokes");
  CHECK_STR(mh_config_suggest("maxPendingSyncs", lim), "maxPendingSync");
  CHECK_STR(mh_config_suggest("quitTimeout", lim), "quitTimeoutMs");
  CHECK_STR(mh_config_suggest("quitTimeoutMS", lim), "quitTimeoutMs");
  CHECK_STR(mh_config_suggest("onfailure", restart), "on-failure");
  CHECK_STR(mh_config_suggest("on_failure", restart), "on-failure");
  CHECK_STR(mh_config_suggest("Always", restart), "always");
  CHECK_STR(mh_config_suggest("nevr", restart), "never");
  CHECK(mh_config_suggest("no", restart) == NULL);
  /* Distance 3 is accepted only for words of 9 or more bytes. */
  CHECK_STR(mh_config_suggest("renderxyz", top), "renderers");
  CHECK(mh_config_suggest("namexyz", rend) == NULL);
  CHECK(mh_config_suggest("zzz", top) == NULL);
  CHECK(mh_config_suggest("", top) == NULL);
  CHECK(mh_config_suggest("an_entirely_unrelated_and_long_key", rend) == NULL);
  CHECK(mh_config_suggest("main", none) == NULL);
  /* The smallest distance wins; a tie goes to the first key. */
  CHECK_STR(mh_config_suggest("abce", pair), "abce");
  CHECK_STR(mh_config_suggest("abcf", pair), "abcd");
}

static void test_fixtures(void)
{
  mh_config_t c;
  char dir[PATH_MAX], app[PATH_MAX], want[PATH_MAX * 2];
  if (!realpath(MH_FIXTURES "/config/basic", dir)) {
    CHECK(!"fixture " MH_FIXTURES "/config/basic exists");
    return;
  }
  snprintf(app, sizeof app, "%s/config/basic", MH_FIXTURES);
  if (load_ok(&c, app) != 0)
    return;
  snprintf(want, sizeof want, "%s/mainhost.json", dir);
  CHECK_STR(c.path, want);
  CHECK_STR(c.dir, dir);
  snprintf(want, sizeof want, "%s/main.lua", dir);
  CHECK_STR(c.main, want);
  CHECK_INT(c.nrenderers, 3);
  if (c.nrenderers == 3) {
    snprintf(want, sizeof want, "%s/views/ui.lua", dir);
    CHECK_STR(c.renderers[0].name, "ui");
    CHECK_STR(c.renderers[0].script, want);
    CHECK_STR(c.renderers[1].name, "ui-2");  /* the explicit "ui" keeps its name */
    CHECK_STR(c.renderers[1].script, want);
    CHECK_STR(c.renderers[2].name, "node");
    snprintf(want, sizeof want, "%s/views", dir);
    CHECK_STR(c.renderers[0].cwd, want);
    CHECK_STR(c.renderers[2].cwd, dir);
    /* Keys the fixture leaves out take their defaults. */
    for (size_t i = 0; i < 3; i++) {
      CHECK_INT(c.renderers[i].restart, MH_RESTART_NEVER);
      CHECK_INT(c.renderers[i].max_restarts, MH_DEFAULT_MAX_RESTARTS);
      CHECK(c.renderers[i].channels == NULL);
    }
  }
  CHECK_INT(c.limits.max_message_bytes, 1048576);
  CHECK_INT(c.limits.max_depth, 64);
  CHECK_INT(c.limits.max_queued_bytes, MH_DEFAULT_MAX_QUEUED_BYTES);
  CHECK_INT(c.limits.max_pending_invokes, MH_DEFAULT_MAX_PENDING_INVOKES);
  CHECK_INT(c.limits.max_pending_sync, MH_DEFAULT_MAX_PENDING_SYNC);
  CHECK_INT(c.limits.quit_timeout_ms, MH_DEFAULT_QUIT_TIMEOUT_MS);
  mh_config_close(&c);

  snprintf(app, sizeof app, "%s/config/typo", MH_FIXTURES);
  CHECK_INT(mh_config_load(&c, app, errbuf, sizeof errbuf), -1);
  snprintf(want, sizeof want,
           "%s/mainhost.json: renderers[0].scirpt: unknown key (did you mean \"script\"?)", app);
  CHECK_STR(errbuf, want);
}

static void test_lone_script(void)
{
  mh_config_t c;
  put("solo/app.lua", "print('hi')\n");
  if (load_ok(&c, "solo/app.lua") == 0) {
    CHECK(c.path == NULL);
    CHECK_STR(c.dir, abspath("solo"));
    CHECK_STR(c.main, abspath("solo/app.lua"));
    CHECK_INT(c.nrenderers, 0);
    CHECK(c.renderers == NULL);
    check_default_limits(&c.limits, __LINE__);
    mh_config_close(&c);
  }
  /* An absolute path gives the same result. */
  if (load_ok(&c, abspath("solo/app.lua")) == 0) {
    CHECK(c.path == NULL);
    CHECK_STR(c.dir, abspath("solo"));
    CHECK_STR(c.main, abspath("solo/app.lua"));
    mh_config_close(&c);
  }
  CHECK_STR(load_err("solo/none.lua"), "solo/none.lua: no such file or directory");
}

static void test_full_config(void)
{
  mh_config_t c;
  put("full/main.lua", "");
  put("full/ui.lua", "");
  put("full/sub/keep", "");
  put("full/mainhost.json",
      "{\n"
      "  \"main\": \"main.lua\",\n"
      "  \"renderers\": [\n"
      "    {\"name\": \"ui\", \"script\": \"ui.lua\", \"args\": [\"--x\", \"1\", \"\"],\n"
      "     \"cwd\": \"sub\", \"env\": {\"K\": \"V\", \"EMPTY\": \"\", \"EQ\": \"a=b\"},\n"
      "     \"restart\": \"on-failure\", \"maxRestarts\": 3, \"channels\": [\"ping\", \"jobs:*\"]},\n"
      "    {\"name\": \"worker\", \"command\": [\"node\", \"worker.js\", \"\"]}\n"
      "  ],\n"
      "  \"limits\": {\"maxMessageBytes\": 1048576, \"maxDepth\": 50, \"maxQueuedBytes\": 2097152,\n"
      "             \"maxPendingInvokes\": 100, \"maxPendingSync\": 8, \"quitTimeoutMs\": 500}\n"
      "}\n");
  if (load_ok(&c, "full") != 0)
    return;
  CHECK_STR(c.path, abspath("full/mainhost.json"));
  CHECK_STR(c.dir, abspath("full"));
  CHECK_STR(c.main, abspath("full/main.lua"));
  CHECK_INT(c.nrenderers, 2);
  if (c.nrenderers == 2) {
    mh_renderer_conf_t *ui = &c.renderers[0], *w = &c.renderers[1];
    CHECK_STR(ui->name, "ui");
    CHECK_STR(ui->script, abspath("full/ui.lua"));
    CHECK(ui->command == NULL);
    CHECK_INT(strv_len(ui->args), 3);
    CHECK_STR(ui->args[0], "--x");
    CHECK_STR(ui->args[1], "1");
    CHECK_STR(ui->args[2], "");
    CHECK_STR(ui->cwd, abspath("full/sub"));
    CHECK_INT(strv_len(ui->env), 3);
    CHECK_STR(ui->env[0], "K=V");  /* document order is kept */
    CHECK_STR(ui->env[1], "EMPTY=");
    CHECK_STR(ui->env[2], "EQ=a=b");
    CHECK_INT(ui->restart, MH_RESTART_ON_FAILURE);
    CHECK_INT(ui->max_restarts, 3);
    CHECK_INT(strv_len(ui->channels), 2);
    if (strv_len(ui->channels) == 2) {
      CHECK_STR(ui->channels[0], "ping");
      CHECK_STR(ui->channels[1], "jobs:*");
    }
    CHECK(mh_config_channel_allowed(ui->channels, "ping", 4));
    CHECK(mh_config_channel_allowed(ui->channels, "jobs:1", 6));
    CHECK(!mh_config_channel_allowed(ui->channels, "pong", 4));

    CHECK_STR(w->name, "worker");
    CHECK(w->script == NULL);
    CHECK_INT(strv_len(w->command), 3);
    CHECK_STR(w->command[0], "node");  /* not looked up: PATH is for spawn time */
    CHECK_STR(w->command[1], "worker.js");
    CHECK_STR(w->command[2], "");
    CHECK(w->args != NULL && w->args[0] == NULL);
    CHECK(w->env != NULL && w->env[0] == NULL);
    CHECK_STR(w->cwd, abspath("full"));
    CHECK_INT(w->restart, MH_RESTART_NEVER);
    CHECK_INT(w->max_restarts, MH_DEFAULT_MAX_RESTARTS);
    CHECK(w->channels == NULL);
    CHECK(mh_config_channel_allowed(w->channels, "anything", 8));
  }
  CHECK_INT(c.limits.max_message_bytes, 1048576);
  CHECK_INT(c.limits.max_depth, 50);
  CHECK_INT(c.limits.max_queued_bytes, 2097152);
  CHECK_INT(c.limits.max_pending_invokes, 100);
  CHECK_INT(c.limits.max_pending_sync, 8);
  CHECK_INT(c.limits.quit_timeout_ms, 500);
  mh_config_close(&c);
  mh_config_close(&c);  /* closing twice is harmless */
  CHECK(is_empty(&c));

  /* A trailing slash on the app dir changes nothing. */
  if (load_ok(&c, "full/") == 0) {
    CHECK_STR(c.path, abspath("full/mainhost.json"));
    mh_config_close(&c);
  }
  /* And so does naming the file. */
  if (load_ok(&c, "full/mainhost.json") == 0) {
    CHECK_STR(c.dir, abspath("full"));
    CHECK_INT(c.nrenderers, 2);
    mh_config_close(&c);
  }
}

static void test_json_path(void)
{
  mh_config_t c;
  put("cfgs/empty.json", "{}");
  if (load_ok(&c, "cfgs/empty.json") == 0) {
    CHECK_STR(c.path, abspath("cfgs/empty.json"));
    CHECK_STR(c.dir, abspath("cfgs"));
    CHECK(c.main == NULL);
    CHECK_INT(c.nrenderers, 0);
    CHECK(c.renderers == NULL);
    check_default_limits(&c.limits, __LINE__);
    mh_config_close(&c);
  }
  /* Paths are relative to the config's own directory, not the cwd; an
   * absolute one is taken as it is. */
  put("cfgs/up.json", "{\"main\": \"../full/main.lua\", \"renderers\": [{\"script\": \"../full/ui.lua\","
                      " \"cwd\": \"..\"}]}");
  if (load_ok(&c, "cfgs/up.json") == 0) {
    CHECK_STR(c.main, abspath("full/main.lua"));
    CHECK_INT(c.nrenderers, 1);
    if (c.nrenderers == 1) {
      CHECK_STR(c.renderers[0].script, abspath("full/ui.lua"));
      CHECK_STR(c.renderers[0].cwd, root);
    }
    mh_config_close(&c);
  }
  char json[PATH_MAX * 2];
  snprintf(json, sizeof json, "{\"main\": \"%s\", \"renderers\": []}", abspath("full/main.lua"));
  put("cfgs/abs.json", json);
  if (load_ok(&c, "cfgs/abs.json") == 0) {
    CHECK_STR(c.main, abspath("full/main.lua"));
    CHECK_INT(c.nrenderers, 0);
    mh_config_close(&c);
  }
}

static void test_app_paths(void)
{
  mkdirs("nocfg");
  mkdirs("weird/mainhost.json");
  put("notes.txt", "");
  CHECK_STR(load_err("nosuchdir"), "nosuchdir: no such file or directory");
  CHECK_STR(load_err("nocfg"), "nocfg: no mainhost.json in this directory");
  CHECK_STR(load_err("nocfg/"), "nocfg/: no mainhost.json in this directory");
  CHECK_STR(load_err("missing.json"), "missing.json: no such file or directory");
  CHECK_STR(load_err("notes.txt"),
            "notes.txt: expected a directory, a *.json config or a *.lua main script");
  CHECK_STR(load_err("weird"), "weird/mainhost.json: not a regular file");
  /* The user's own spelling of the path, never the realpath. */
  CHECK_STR(load_err("./nocfg"), "./nocfg: no mainhost.json in this directory");
}

static void test_invalid_json(void)
{
  CHECK_STR(json_err("{\n  \"main\": \"main.lua\",\n  \"renderers\": [,]\n}\n"),
            "e/mainhost.json:3:17: invalid JSON: unexpected token near ','");
  const char *m = json_err("{\"main\": \"main.lua\", \"main\": \"main.lua\"}");
  CHECK(strncmp(m, "e/mainhost.json:1:", 18) == 0);
  CHECK(strstr(m, "invalid JSON: duplicate object key") != NULL);
  CHECK_STR(json_err(""),
            "e/mainhost.json: the file is empty (a config is a JSON object: {\"main\": \"main.lua\", ...})");
  CHECK_STR(json_err("\xEF\xBB\xBF{\"main\": \"main.lua\"}"),
            "e/mainhost.json: the file starts with a UTF-8 byte order mark; save it without one");
  m = json_err(" ");
  CHECK(strncmp(m, "e/mainhost.json:", 16) == 0 && strstr(m, ": invalid JSON: ") != NULL);
  m = json_err("\xEF{}");
  CHECK(m != NULL && strstr(m, ": invalid JSON: ") != NULL);
  m = json_err("{} {}");
  CHECK(strstr(m, ": invalid JSON: end of file expected") != NULL);
  CHECK_STR(json_err("[]"), "e/mainhost.json: expected an object at the top level, got array");
  CHECK_STR(json_err("\"main.lua\""),
            "e/mainhost.json: expected an object at the top level, got string");
}

static void test_unknown_keys(void)
{
  CHECK_STR(json_err("{\"mian\": \"main.lua\"}"), msg("mian: unknown key (did you mean \"main\"?)"));
  CHECK_STR(json_err("{\"renderers\": [{\"command\": [\"x\"]}, {\"scirpt\": \"ui.lua\"}]}"),
            msg("renderers[1].scirpt: unknown key (did you mean \"script\"?)"));
  CHECK_STR(json_err("{\"limits\": {\"maxdepth\": 3}}"),
            msg("limits.maxdepth: unknown key (did you mean \"maxDepth\"?)"));
  CHECK_STR(json_err("{\"zzz\": 1}"),
            msg("zzz: unknown key (valid keys: \"main\", \"renderers\", \"limits\")"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"shell\": true}]}"),
            msg("renderers[0].shell: unknown key (valid keys: \"name\", \"script\", "
                "\"command\", \"args\", \"cwd\", \"env\", \"restart\", \"maxRestarts\", "
                "\"channels\")"));
  CHECK_STR(json_err("{\"limits\": {\"timeout\": 1}}"),
            msg("limits.timeout: unknown key (valid keys: \"maxMessageBytes\", \"maxDepth\", "
                "\"maxQueuedBytes\", \"maxPendingInvokes\", \"maxPendingSync\", "
                "\"quitTimeoutMs\")"));
  /* The new keys are suggested like the old ones. */
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"restarts\": \"always\"}]}"),
            msg("renderers[0].restarts: unknown key (did you mean \"restart\"?)"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"maxRestart\": 1}]}"),
            msg("renderers[0].maxRestart: unknown key (did you mean \"maxRestarts\"?)"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"channel\": []}]}"),
            msg("renderers[0].channel: unknown key (did you mean \"channels\"?)"));
  CHECK_STR(json_err("{\"limits\": {\"maxQueueBytes\": 65536}}"),
            msg("limits.maxQueueBytes: unknown key (did you mean \"maxQueuedBytes\"?)"));
  CHECK_STR(json_err("{\"limits\": {\"maxPendingInvoke\": 1}}"),
            msg("limits.maxPendingInvoke: unknown key (did you mean \"maxPendingInvokes\"?)"));
  CHECK_STR(json_err("{\"limits\": {\"maxpendingsync\": 1}}"),
            msg("limits.maxpendingsync: unknown key (did you mean \"maxPendingSync\"?)"));
  CHECK_STR(json_err("{\"limits\": {\"quitTimeout\": 1}}"),
            msg("limits.quitTimeout: unknown key (did you mean \"quitTimeoutMs\"?)"));
  /* Keys that are no identifiers are quoted, control bytes escaped. */
  CHECK_STR(json_err("{\"a b\": 1}"), msg("[\"a b\"]: unknown key (valid keys: \"main\", "
                                          "\"renderers\", \"limits\")"));
  const char *m = json_err("{\"x\\ny\": 1}");
  CHECK(strncmp(m, msg("[\"x\\u000ay\"]: unknown key"), strlen(msg("[\"x\\u000ay\"]: unknown key"))) == 0);
  CHECK(strchr(m, '\n') == NULL);
  /* A huge key is cut short, never overrun; an odd one keeps its quotes. */
  char big[2100];
  strcpy(big, "{\"");
  memset(big + 2, 'k', 1000);
  strcpy(big + 1002, "\": 1, \"main\": 2}");
  m = json_err(big);
  CHECK(strncmp(m, msg("kkkkkkkk"), strlen(msg("kkkkkkkk"))) == 0);
  CHECK(strstr(m, ": unknown key (valid keys: ") != NULL);
  memset(big + 2, '-', 1000);
  m = json_err(big);
  CHECK(strncmp(m, msg("[\"----"), strlen(msg("[\"----"))) == 0);
  CHECK(strstr(m, "...\"]: unknown key") != NULL);

  /* The first unknown key in document order is the one reported, before
   * any type error in the same object. */
  CHECK_STR(json_err("{\"main\": 5, \"mian\": 1, \"limts\": 2}"),
            msg("mian: unknown key (did you mean \"main\"?)"));
}

static void test_wrong_types(void)
{
  CHECK_STR(json_err("{\"main\": 5}"), msg("main: expected a string, got number"));
  CHECK_STR(json_err("{\"main\": \"\"}"), msg("main: expected a non-empty string"));
  CHECK_STR(json_err("{\"main\": null}"), msg("main: expected a string, got null"));
  CHECK_STR(json_err("{\"renderers\": {}}"), msg("renderers: expected an array, got object"));
  CHECK_STR(json_err("{\"renderers\": null}"), msg("renderers: expected an array, got null"));
  CHECK_STR(json_err("{\"renderers\": [\"ui.lua\"]}"),
            msg("renderers[0]: expected an object, got string"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\"}, [1]]}"),
            msg("renderers[1]: expected an object, got array"));

  /* args */
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"args\": [\"a\", \"b\", 3]}]}"),
            msg("renderers[0].args[2]: expected a string, got number"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"args\": \"-v\"}]}"),
            msg("renderers[0].args: expected an array of strings, got string"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"args\": [true]}]}"),
            msg("renderers[0].args[0]: expected a string, got boolean"));

  /* command */
  CHECK_STR(json_err("{\"renderers\": [{\"command\": \"node\"}]}"),
            msg("renderers[0].command: expected an array of strings, got string"));
  CHECK_STR(json_err("{\"renderers\": [{\"command\": []}]}"),
            msg("renderers[0].command: expected a non-empty array of strings"));
  CHECK_STR(json_err("{\"renderers\": [{\"command\": [\"\"]}]}"),
            msg("renderers[0].command[0]: expected a non-empty string"));
  CHECK_STR(json_err("{\"renderers\": [{\"command\": [\"x\", null]}]}"),
            msg("renderers[0].command[1]: expected a string, got null"));
  CHECK_STR(json_err("{\"renderers\": [{\"command\": [{}]}]}"),
            msg("renderers[0].command[0]: expected a string, got object"));

  /* script, cwd */
  CHECK_STR(json_err("{\"renderers\": [{\"script\": 1}]}"),
            msg("renderers[0].script: expected a string, got number"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"cwd\": 1.5}]}"),
            msg("renderers[0].cwd: expected a string, got number"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"cwd\": \"\"}]}"),
            msg("renderers[0].cwd: expected a non-empty string"));

  /* env */
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"env\": [\"K=V\"]}]}"),
            msg("renderers[0].env: expected an object of strings, got array"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"env\": {\"K\": true}}]}"),
            msg("renderers[0].env.K: expected a string, got boolean"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"env\": {\"A B\": 1}}]}"),
            msg("renderers[0].env[\"A B\"]: expected a string, got number"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"env\": {\"A=B\": \"x\"}}]}"),
            msg("renderers[0].env[\"A=B\"]: invalid variable name (must be non-empty, without \"=\")"));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"env\": {\"\": \"x\"}}]}"),
            msg("renderers[0].env[\"\"]: invalid variable name (must be non-empty, without \"=\")"));

  /* a failure in a later entry frees the earlier ones (run under ASan) */
  CHECK_STR(json_err("{\"main\": \"main.lua\", \"renderers\": [{\"script\": \"ui.lua\","
                     " \"args\": [\"a\"], \"env\": {\"K\": \"V\"}}, {\"command\": [\"x\"], \"env\": 1}]}"),
            msg("renderers[1].env: expected an object of strings, got number"));
}

static void test_script_or_command(void)
{
  CHECK_STR(json_err("{\"renderers\": [{\"name\": \"x\"}]}"),
            msg("renderers[0]: needs \"script\" or \"command\""));
  CHECK_STR(json_err("{\"renderers\": [{}]}"), msg("renderers[0]: needs \"script\" or \"command\""));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"command\": [\"x\"]}]}"),
            msg("renderers[0]: has both \"script\" and \"command\" (use one)"));
}

static void test_missing_paths(void)
{
  CHECK_STR(json_err("{\"main\": \"mian.lua\"}"),
            msg("main: file not found: %s", abspath("e/mian.lua")));
  CHECK_STR(json_err("{\"main\": \"sub\"}"), msg("main: not a regular file: %s", abspath("e/sub")));
  CHECK_STR(json_err("{\"main\": \"main.lua/x\"}"),
            msg("main: file not found: %s", abspath("e/main.lua/x")));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"nope.lua\"}]}"),
            msg("renderers[0].script: file not found: %s", abspath("e/nope.lua")));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"sub\"}]}"),
            msg("renderers[0].script: not a regular file: %s", abspath("e/sub")));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"cwd\": \"nope\"}]}"),
            msg("renderers[0].cwd: directory not found: %s", abspath("e/nope")));
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"cwd\": \"main.lua\"}]}"),
            msg("renderers[0].cwd: not a directory: %s", abspath("e/main.lua")));
  /* A command's program is not checked: PATH is searched when it starts. */
  mh_config_t c;
  put("e/mainhost.json", "{\"renderers\": [{\"command\": [\"no-such-program-xyz\"]}]}");
  if (load_ok(&c, "e") == 0) {
    CHECK_STR(c.renderers[0].command[0], "no-such-program-xyz");
    CHECK_STR(c.renderers[0].name, "no-such-program-xyz");
    mh_config_close(&c);
  }
}

static void test_names(void)
{
  mh_config_t c;
  put("e/noext", "");
  put("e/my app.lua", "");
  put("e/.lua", "");
  put("e/mainhost.json",
      "{\"renderers\": ["
      "{\"script\": \"ui.lua\"},"
      "{\"script\": \"sub/ui.lua\"},"
      "{\"command\": [\"/usr/bin/node\", \"x.js\"]},"
      "{\"name\": \"ui-3\", \"command\": [\"a\"]},"
      "{\"script\": \"ui.lua\"},"
      "{\"script\": \"my app.lua\"},"
      "{\"script\": \"noext\"},"
      "{\"script\": \".lua\"},"
      "{\"command\": [\"node\"]},"
      "{\"name\": \"A-z_0.9:x\", \"script\": \"ui.lua\"}"
      "]}");
  if (load_ok(&c, "e") == 0) {
    static const char *const want[] = {"ui", "ui-2", "node", "ui-3", "ui-4", "my_app",
                                       "noext", "renderer", "node-2", "A-z_0.9:x"};
    CHECK_INT(c.nrenderers, 10);
    for (size_t i = 0; i < c.nrenderers && i < 10; i++)
      CHECK_STR(c.renderers[i].name, want[i]);
    mh_config_close(&c);
  }
  /* An explicit name wins over an earlier default that would have had it. */
  put("e/mainhost.json", "{\"renderers\": [{\"script\": \"ui.lua\"}, {\"name\": \"ui\", \"command\": [\"x\"]}]}");
  if (load_ok(&c, "e") == 0) {
    CHECK_STR(c.renderers[0].name, "ui-2");
    CHECK_STR(c.renderers[1].name, "ui");
    mh_config_close(&c);
  }

  CHECK_STR(json_err("{\"renderers\": [{\"name\": \"a\", \"command\": [\"x\"]},"
                     " {\"script\": \"ui.lua\"}, {\"name\": \"a\", \"command\": [\"y\"]}]}"),
            msg("renderers[2].name: duplicate name \"a\" (also renderers[0])"));
  CHECK_STR(json_err("{\"renderers\": [{\"name\": \"a b\", \"script\": \"ui.lua\"}]}"),
            msg("renderers[0].name: invalid name \"a b\" (use letters, digits and _.:-)"));
  CHECK_STR(json_err("{\"renderers\": [{\"name\": \"ui/1\", \"script\": \"ui.lua\"}]}"),
            msg("renderers[0].name: invalid name \"ui/1\" (use letters, digits and _.:-)"));
  CHECK_STR(json_err("{\"renderers\": [{\"name\": \"\", \"script\": \"ui.lua\"}]}"),
            msg("renderers[0].name: expected a non-empty string"));
  CHECK_STR(json_err("{\"renderers\": [{\"name\": 5, \"script\": \"ui.lua\"}]}"),
            msg("renderers[0].name: expected a string, got number"));
}

/* Loads e/mainhost.json holding one renderer {"script": "ui.lua", FIELDS}
 * into C; 0 on success. */
static int load_one(mh_config_t *c, const char *fields)
{
  char json[1024];
  snprintf(json, sizeof json, "{\"renderers\": [{\"script\": \"ui.lua\", %s}]}", fields);
  put("e/mainhost.json", json);
  int rc = load_ok(c, "e");
  if (rc != 0)
    fprintf(stderr, "  with %s\n", fields);
  return rc;
}

/* The message for one renderer {"script": "ui.lua", FIELDS}. */
static const char *one_err(const char *fields)
{
  char json[1024];
  snprintf(json, sizeof json, "{\"renderers\": [{\"script\": \"ui.lua\", %s}]}", fields);
  return json_err(json);
}

static void test_restart(void)
{
  mh_config_t c;
  static const struct { const char *json; int want; } ok[] = {
    {"\"restart\": \"never\"", MH_RESTART_NEVER},
    {"\"restart\": \"on-failure\"", MH_RESTART_ON_FAILURE},
    {"\"restart\": \"always\"", MH_RESTART_ALWAYS},
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    if (load_one(&c, ok[i].json) == 0) {
      CHECK_INT(c.renderers[0].restart, ok[i].want);
      CHECK_INT(c.renderers[0].max_restarts, MH_DEFAULT_MAX_RESTARTS);
      mh_config_close(&c);
    }
  }
  /* maxRestarts alone leaves restart at "never"; an integral real counts. */
  static const struct { const char *json; int want; } counts[] = {
    {"\"maxRestarts\": 0", 0}, {"\"maxRestarts\": 1000", 1000}, {"\"maxRestarts\": 7", 7},
    {"\"maxRestarts\": 1e2", 100}, {"\"maxRestarts\": 3.0", 3},
  };
  for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
    if (load_one(&c, counts[i].json) == 0) {
      CHECK_INT(c.renderers[0].restart, MH_RESTART_NEVER);
      CHECK_INT(c.renderers[0].max_restarts, counts[i].want);
      mh_config_close(&c);
    }
  }
  /* Each renderer has its own settings. */
  put("e/mainhost.json", "{\"renderers\": [{\"script\": \"ui.lua\", \"restart\": \"always\","
                         " \"maxRestarts\": 2}, {\"command\": [\"x\"]}]}");
  if (load_ok(&c, "e") == 0) {
    CHECK_INT(c.renderers[0].restart, MH_RESTART_ALWAYS);
    CHECK_INT(c.renderers[0].max_restarts, 2);
    CHECK_INT(c.renderers[1].restart, MH_RESTART_NEVER);
    CHECK_INT(c.renderers[1].max_restarts, MH_DEFAULT_MAX_RESTARTS);
    mh_config_close(&c);
  }

  /* Unknown values list the choices and name the nearest one, if any. */
#define CHOICES "expected \"never\", \"on-failure\" or \"always\""
  CHECK_STR(one_err("\"restart\": \"onfailure\""),
            msg("renderers[0].restart: " CHOICES ", got \"onfailure\" (did you mean \"on-failure\"?)"));
  CHECK_STR(one_err("\"restart\": \"on_failure\""),
            msg("renderers[0].restart: " CHOICES ", got \"on_failure\" (did you mean \"on-failure\"?)"));
  CHECK_STR(one_err("\"restart\": \"Always\""),  /* values are case-sensitive */
            msg("renderers[0].restart: " CHOICES ", got \"Always\" (did you mean \"always\"?)"));
  CHECK_STR(one_err("\"restart\": \"nevr\""),
            msg("renderers[0].restart: " CHOICES ", got \"nevr\" (did you mean \"never\"?)"));
  CHECK_STR(one_err("\"restart\": \"no\""), msg("renderers[0].restart: " CHOICES ", got \"no\""));
  CHECK_STR(one_err("\"restart\": \"\""), msg("renderers[0].restart: " CHOICES ", got \"\""));
  CHECK_STR(one_err("\"restart\": \"a\\\"b\""),
            msg("renderers[0].restart: " CHOICES ", got \"a\\\"b\""));
  CHECK_STR(one_err("\"restart\": true"), msg("renderers[0].restart: " CHOICES ", got boolean"));
  CHECK_STR(one_err("\"restart\": 1"), msg("renderers[0].restart: " CHOICES ", got number"));
  CHECK_STR(one_err("\"restart\": null"), msg("renderers[0].restart: " CHOICES ", got null"));
  CHECK_STR(one_err("\"restart\": [\"always\"]"), msg("renderers[0].restart: " CHOICES ", got array"));
#undef CHOICES
  /* A huge value is cut short, never overrun. */
  char big[1200] = "\"restart\": \"";
  memset(big + strlen(big), 'x', 900);
  strcpy(big + strlen(big), "\"");
  const char *m = one_err(big);
  CHECK(strncmp(m, msg("renderers[0].restart: expected"), strlen(msg("renderers[0].restart: expected"))) == 0);
  CHECK(strstr(m, "xxx...\"") != NULL);

  CHECK_STR(one_err("\"maxRestarts\": -1"),
            msg("renderers[0].maxRestarts: expected an integer from 0 to 1000, got -1"));
  CHECK_STR(one_err("\"maxRestarts\": 1001"),
            msg("renderers[0].maxRestarts: expected an integer from 0 to 1000, got 1001"));
  CHECK_STR(one_err("\"maxRestarts\": 1e10"),
            msg("renderers[0].maxRestarts: expected an integer from 0 to 1000, got 1e+10"));
  CHECK_STR(one_err("\"maxRestarts\": 2.5"),
            msg("renderers[0].maxRestarts: expected an integer, got 2.5"));
  CHECK_STR(one_err("\"maxRestarts\": \"5\""),
            msg("renderers[0].maxRestarts: expected an integer, got string"));
  CHECK_STR(one_err("\"maxRestarts\": false"),
            msg("renderers[0].maxRestarts: expected an integer, got boolean"));
  CHECK_STR(one_err("\"maxRestarts\": null"),
            msg("renderers[0].maxRestarts: expected an integer, got null"));
  /* The entry's path is in the message, whichever entry it is. */
  CHECK_STR(json_err("{\"renderers\": [{\"command\": [\"x\"]}, {\"command\": [\"y\"], \"restart\": \"sometimes\"}]}"),
            msg("renderers[1].restart: expected \"never\", \"on-failure\" or \"always\", got \"sometimes\""));
}

static void test_channels(void)
{
  mh_config_t c;
  if (load_one(&c, "\"channels\": [\"ping\", \"jobs:*\", \"*\", \"a b\", \"x:y:z\", \"ping\"]") == 0) {
    char **ch = c.renderers[0].channels;
    CHECK_INT(strv_len(ch), 6);
    if (strv_len(ch) == 6) {
      CHECK_STR(ch[0], "ping");
      CHECK_STR(ch[1], "jobs:*");
      CHECK_STR(ch[2], "*");  /* an empty prefix: every channel */
      CHECK_STR(ch[3], "a b");
      CHECK_STR(ch[4], "x:y:z");
      CHECK_STR(ch[5], "ping");  /* a repeat is harmless */
    }
    mh_config_close(&c);
  }
  /* Absent: NULL (everything allowed); []: a lone terminator (nothing). */
  if (load_one(&c, "\"args\": []") == 0) {
    CHECK(c.renderers[0].channels == NULL);
    mh_config_close(&c);
  }
  if (load_one(&c, "\"channels\": []") == 0) {
    CHECK(c.renderers[0].channels != NULL && c.renderers[0].channels[0] == NULL);
    CHECK(!mh_config_channel_allowed(c.renderers[0].channels, "ping", 4));
    mh_config_close(&c);
  }

  CHECK_STR(one_err("\"channels\": \"ping\""),
            msg("renderers[0].channels: expected an array of strings, got string"));
  CHECK_STR(one_err("\"channels\": null"),
            msg("renderers[0].channels: expected an array of strings, got null"));
  CHECK_STR(one_err("\"channels\": {\"ping\": true}"),
            msg("renderers[0].channels: expected an array of strings, got object"));
  CHECK_STR(one_err("\"channels\": [\"ping\", 1]"),
            msg("renderers[0].channels[1]: expected a string, got number"));
  CHECK_STR(one_err("\"channels\": [\"ping\", \"\"]"),
            msg("renderers[0].channels[1]: expected a non-empty string"));
  CHECK_STR(one_err("\"channels\": [null]"),
            msg("renderers[0].channels[0]: expected a string, got null"));
  CHECK_STR(one_err("\"channels\": [[\"ping\"]]"),
            msg("renderers[0].channels[0]: expected a string, got array"));
  /* "*" only as the last byte, once. */
#define STAR "(\"*\" may only end a prefix, as in \"jobs:*\")"
  CHECK_STR(one_err("\"channels\": [\"ok\", \"a*b\"]"),
            msg("renderers[0].channels[1]: invalid channel \"a*b\" " STAR));
  CHECK_STR(one_err("\"channels\": [\"jobs:**\"]"),
            msg("renderers[0].channels[0]: invalid channel \"jobs:**\" " STAR));
  CHECK_STR(one_err("\"channels\": [\"**\"]"),
            msg("renderers[0].channels[0]: invalid channel \"**\" " STAR));
  CHECK_STR(one_err("\"channels\": [\"*:jobs\"]"),
            msg("renderers[0].channels[0]: invalid channel \"*:jobs\" " STAR));
  CHECK_STR(one_err("\"channels\": [\"a*b*\"]"),
            msg("renderers[0].channels[0]: invalid channel \"a*b*\" " STAR));
  CHECK_STR(one_err("\"channels\": [\"a\\tb*c\"]"),
            msg("renderers[0].channels[0]: invalid channel \"a\\u0009b*c\" " STAR));
#undef STAR
  /* An entry never holds a NUL byte, so it can never match part of a name:
   * jansson refuses \u0000 in the file. */
  const char *m = one_err("\"channels\": [\"a\\u0000b\"]");
  CHECK(strstr(m, ": invalid JSON: ") != NULL);
  /* A bad channel in a later entry frees the earlier ones (run under ASan). */
  CHECK_STR(json_err("{\"renderers\": [{\"script\": \"ui.lua\", \"channels\": [\"a\", \"b*\"]},"
                     " {\"command\": [\"x\"], \"channels\": [\"a\", \"b\", \"c*d\"]}]}"),
            msg("renderers[1].channels[2]: invalid channel \"c*d\" (\"*\" may only end a prefix,"
                " as in \"jobs:*\")"));
}

static void test_channel_allowed(void)
{
  char *list[] = {"ping", "jobs:*", "a b", NULL};
  char *all[] = {"*", NULL};
  char *none[] = {NULL};

  /* NULL: everything, even "" with no pointer at all. */
  CHECK_INT(mh_config_channel_allowed(NULL, "x", 1), 1);
  CHECK_INT(mh_config_channel_allowed(NULL, NULL, 0), 1);
  CHECK_INT(mh_config_channel_allowed(NULL, "a\0b", 3), 1);
  /* An empty list: nothing. */
  CHECK_INT(mh_config_channel_allowed(none, "ping", 4), 0);
  CHECK_INT(mh_config_channel_allowed(none, NULL, 0), 0);

  /* Exact entries match the whole name only, case-sensitively. */
  CHECK_INT(mh_config_channel_allowed(list, "ping", 4), 1);
  CHECK_INT(mh_config_channel_allowed(list, "a b", 3), 1);
  CHECK_INT(mh_config_channel_allowed(list, "pin", 3), 0);
  CHECK_INT(mh_config_channel_allowed(list, "pings", 5), 0);
  CHECK_INT(mh_config_channel_allowed(list, "Ping", 4), 0);
  CHECK_INT(mh_config_channel_allowed(list, "", 0), 0);
  CHECK_INT(mh_config_channel_allowed(list, NULL, 0), 0);
  /* N bytes, not strlen: a longer buffer, or one holding NUL. */
  CHECK_INT(mh_config_channel_allowed(list, "pingpong", 4), 1);
  CHECK_INT(mh_config_channel_allowed(list, "ping\0", 5), 0);
  CHECK_INT(mh_config_channel_allowed(list, "pi\0g", 4), 0);
  /* "*" is literal in an exact match: "ping*" is no entry. */
  CHECK_INT(mh_config_channel_allowed(list, "ping*", 5), 0);

  /* Prefixes: the part before "*", then anything, nothing included. */
  CHECK_INT(mh_config_channel_allowed(list, "jobs:", 5), 1);
  CHECK_INT(mh_config_channel_allowed(list, "jobs:1", 6), 1);
  CHECK_INT(mh_config_channel_allowed(list, "jobs:a:b", 8), 1);
  CHECK_INT(mh_config_channel_allowed(list, "jobs:*", 6), 1);
  CHECK_INT(mh_config_channel_allowed(list, "jobs:\0x", 7), 1);
  CHECK_INT(mh_config_channel_allowed(list, "jobs", 4), 0);
  CHECK_INT(mh_config_channel_allowed(list, "job:1", 5), 0);
  CHECK_INT(mh_config_channel_allowed(list, "Jobs:1", 6), 0);
  CHECK_INT(mh_config_channel_allowed(list, "jobs:1", 4), 0);  /* only "jobs" is looked at */
  CHECK_INT(mh_config_channel_allowed(list, "jo\0s:1", 6), 0);

  /* A lone "*": every name, "" included. */
  CHECK_INT(mh_config_channel_allowed(all, "anything", 8), 1);
  CHECK_INT(mh_config_channel_allowed(all, "", 0), 1);
  CHECK_INT(mh_config_channel_allowed(all, NULL, 0), 1);
  CHECK_INT(mh_config_channel_allowed(all, "\0", 1), 1);
}

static void test_limits(void)
{
  mh_config_t c;
  put("e/mainhost.json", "{\"limits\": {\"maxMessageBytes\": 1024, \"maxDepth\": 1}}");
  if (load_ok(&c, "e") == 0) {
    CHECK_INT(c.limits.max_message_bytes, 1024);
    CHECK_INT(c.limits.max_depth, 1);
    mh_config_close(&c);
  }
  /* Either limit alone leaves the other at its default; an integral real
   * such as 6.4e7 counts as an integer. */
  put("e/mainhost.json", "{\"limits\": {\"maxMessageBytes\": 6.4e7}}");
  if (load_ok(&c, "e") == 0) {
    CHECK_INT(c.limits.max_message_bytes, 64000000);
    CHECK_INT(c.limits.max_depth, MH_DEFAULT_MAX_DEPTH);
    mh_config_close(&c);
  }
  put("e/mainhost.json", "{\"limits\": {\"maxDepth\": 10000}}");
  if (load_ok(&c, "e") == 0) {
    CHECK_INT(c.limits.max_message_bytes, MH_DEFAULT_MAX_MESSAGE_BYTES);
    CHECK_INT(c.limits.max_depth, 10000);
    mh_config_close(&c);
  }
  put("e/mainhost.json", "{\"limits\": {}}");
  if (load_ok(&c, "e") == 0) {
    CHECK_INT(c.limits.max_message_bytes, MH_DEFAULT_MAX_MESSAGE_BYTES);
    CHECK_INT(c.limits.max_depth, MH_DEFAULT_MAX_DEPTH);
    mh_config_close(&c);
  }

  CHECK_STR(json_err("{\"limits\": []}"), msg("limits: expected an object, got array"));
  CHECK_STR(json_err("{\"limits\": {\"maxMessageBytes\": \"1M\"}}"),
            msg("limits.maxMessageBytes: expected an integer, got string"));
  CHECK_STR(json_err("{\"limits\": {\"maxMessageBytes\": 1023}}"),
            msg("limits.maxMessageBytes: expected an integer >= 1024, got 1023"));
  CHECK_STR(json_err("{\"limits\": {\"maxMessageBytes\": -1}}"),
            msg("limits.maxMessageBytes: expected an integer >= 1024, got -1"));
  CHECK_STR(json_err("{\"limits\": {\"maxMessageBytes\": 1e300}}"),
            msg("limits.maxMessageBytes: expected an integer >= 1024, got 1e+300"));
  CHECK_STR(json_err("{\"limits\": {\"maxMessageBytes\": 9223372036854775808.0}}"),
            msg("limits.maxMessageBytes: expected an integer >= 1024, got 9.22337e+18"));
  CHECK_STR(json_err("{\"limits\": {\"maxDepth\": 0}}"),
            msg("limits.maxDepth: expected an integer from 1 to 10000, got 0"));
  CHECK_STR(json_err("{\"limits\": {\"maxDepth\": 10001}}"),
            msg("limits.maxDepth: expected an integer from 1 to 10000, got 10001"));
  CHECK_STR(json_err("{\"limits\": {\"maxDepth\": 1.5}}"),
            msg("limits.maxDepth: expected an integer, got 1.5"));
  CHECK_STR(json_err("{\"limits\": {\"maxDepth\": null}}"),
            msg("limits.maxDepth: expected an integer, got null"));

  /* The four newer limits: the bounds themselves are valid, each alone
   * leaves every other limit at its default. */
  static const struct {
    const char *json;
    size_t queued, invokes, sync;
    unsigned quit;
  } ok[] = {
    {"\"maxQueuedBytes\": 65536", 65536, 0, 0, 0},
    {"\"maxQueuedBytes\": 1e9", 1000000000, 0, 0, 0},
    {"\"maxQueuedBytes\": 2147483648", (size_t)2147483648u, 0, 0, 0},
    {"\"maxPendingInvokes\": 1", 0, 1, 0, 0},
    {"\"maxPendingInvokes\": 1000000", 0, 1000000, 0, 0},
    {"\"maxPendingInvokes\": 1e6", 0, 1000000, 0, 0},
    {"\"maxPendingSync\": 1", 0, 0, 1, 0},
    {"\"maxPendingSync\": 100000", 0, 0, 100000, 0},
    {"\"quitTimeoutMs\": 600000", 0, 0, 0, 600000},
    {"\"quitTimeoutMs\": 1", 0, 0, 0, 1},
  };
  char json[256];
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    snprintf(json, sizeof json, "{\"limits\": {%s}}", ok[i].json);
    put("e/mainhost.json", json);
    if (load_ok(&c, "e") != 0)
      continue;
    CHECK_INT(c.limits.max_message_bytes, MH_DEFAULT_MAX_MESSAGE_BYTES);
    CHECK_INT(c.limits.max_depth, MH_DEFAULT_MAX_DEPTH);
    CHECK_INT(c.limits.max_queued_bytes, ok[i].queued ? ok[i].queued : MH_DEFAULT_MAX_QUEUED_BYTES);
    CHECK_INT(c.limits.max_pending_invokes,
              ok[i].invokes ? ok[i].invokes : MH_DEFAULT_MAX_PENDING_INVOKES);
    CHECK_INT(c.limits.max_pending_sync, ok[i].sync ? ok[i].sync : MH_DEFAULT_MAX_PENDING_SYNC);
    CHECK_INT(c.limits.quit_timeout_ms, ok[i].quit ? ok[i].quit : MH_DEFAULT_QUIT_TIMEOUT_MS);
    mh_config_close(&c);
  }
#if SIZE_MAX >= 0x7fffffffffffffff
  /* The largest integer JSON gives us is a valid byte count. */
  put("e/mainhost.json", "{\"limits\": {\"maxQueuedBytes\": 9223372036854775807}}");
  if (load_ok(&c, "e") == 0) {
    CHECK(c.limits.max_queued_bytes == (size_t)0x7fffffffffffffff);
    mh_config_close(&c);
  }
#endif
  /* 0 ms is valid: SIGTERM right away once the channel closes. */
  put("e/mainhost.json", "{\"limits\": {\"quitTimeoutMs\": 0}}");
  if (load_ok(&c, "e") == 0) {
    CHECK_INT(c.limits.quit_timeout_ms, 0);
    mh_config_close(&c);
  }
  /* The header's defaults are the documented ones. */
  CHECK_INT(MH_DEFAULT_MAX_QUEUED_BYTES, 64 * 1024 * 1024);
  CHECK_INT(MH_DEFAULT_MAX_PENDING_INVOKES, 10000);
  CHECK_INT(MH_DEFAULT_MAX_PENDING_SYNC, 64);
  CHECK_INT(MH_DEFAULT_QUIT_TIMEOUT_MS, 2000);
  CHECK_INT(MH_DEFAULT_MAX_RESTARTS, 5);

  CHECK_STR(json_err("{\"limits\": {\"maxQueuedBytes\": 65535}}"),
            msg("limits.maxQueuedBytes: expected an integer >= 65536, got 65535"));
  CHECK_STR(json_err("{\"limits\": {\"maxQueuedBytes\": 0}}"),
            msg("limits.maxQueuedBytes: expected an integer >= 65536, got 0"));
  CHECK_STR(json_err("{\"limits\": {\"maxQueuedBytes\": -65536}}"),
            msg("limits.maxQueuedBytes: expected an integer >= 65536, got -65536"));
  CHECK_STR(json_err("{\"limits\": {\"maxQueuedBytes\": 1e300}}"),
            msg("limits.maxQueuedBytes: expected an integer >= 65536, got 1e+300"));
  CHECK_STR(json_err("{\"limits\": {\"maxQueuedBytes\": 65536.5}}"),
            msg("limits.maxQueuedBytes: expected an integer, got 65536.5"));
  CHECK_STR(json_err("{\"limits\": {\"maxQueuedBytes\": \"64M\"}}"),
            msg("limits.maxQueuedBytes: expected an integer, got string"));
  CHECK_STR(json_err("{\"limits\": {\"maxPendingInvokes\": 0}}"),
            msg("limits.maxPendingInvokes: expected an integer from 1 to 1000000, got 0"));
  CHECK_STR(json_err("{\"limits\": {\"maxPendingInvokes\": 1000001}}"),
            msg("limits.maxPendingInvokes: expected an integer from 1 to 1000000, got 1000001"));
  CHECK_STR(json_err("{\"limits\": {\"maxPendingInvokes\": true}}"),
            msg("limits.maxPendingInvokes: expected an integer, got boolean"));
  CHECK_STR(json_err("{\"limits\": {\"maxPendingInvokes\": 0.5}}"),
            msg("limits.maxPendingInvokes: expected an integer from 1 to 1000000, got 0.5"));
  CHECK_STR(json_err("{\"limits\": {\"maxPendingSync\": 0}}"),
            msg("limits.maxPendingSync: expected an integer from 1 to 100000, got 0"));
  CHECK_STR(json_err("{\"limits\": {\"maxPendingSync\": 100001}}"),
            msg("limits.maxPendingSync: expected an integer from 1 to 100000, got 100001"));
  CHECK_STR(json_err("{\"limits\": {\"maxPendingSync\": [64]}}"),
            msg("limits.maxPendingSync: expected an integer, got array"));
  CHECK_STR(json_err("{\"limits\": {\"quitTimeoutMs\": -1}}"),
            msg("limits.quitTimeoutMs: expected an integer from 0 to 600000, got -1"));
  CHECK_STR(json_err("{\"limits\": {\"quitTimeoutMs\": 600001}}"),
            msg("limits.quitTimeoutMs: expected an integer from 0 to 600000, got 600001"));
  CHECK_STR(json_err("{\"limits\": {\"quitTimeoutMs\": 4294967296}}"),
            msg("limits.quitTimeoutMs: expected an integer from 0 to 600000, got 4294967296"));
  CHECK_STR(json_err("{\"limits\": {\"quitTimeoutMs\": 1.5}}"),
            msg("limits.quitTimeoutMs: expected an integer, got 1.5"));
  CHECK_STR(json_err("{\"limits\": {\"quitTimeoutMs\": \"2s\"}}"),
            msg("limits.quitTimeoutMs: expected an integer, got string"));
  CHECK_STR(json_err("{\"limits\": {\"quitTimeoutMs\": null}}"),
            msg("limits.quitTimeoutMs: expected an integer, got null"));
}

static void test_error_buffer(void)
{
  mh_config_t c;
  /* No buffer at all, or a tiny one: still -1, still empty, no overrun. */
  CHECK_INT(mh_config_load(&c, "nosuchdir", NULL, 0), -1);
  CHECK(is_empty(&c));
  char small[8];
  memset(small, 'x', sizeof small);
  CHECK_INT(mh_config_load(&c, "nosuchdir", small, sizeof small), -1);
  CHECK_STR(small, "nosuchd");
  /* Success clears a stale message. */
  strcpy(errbuf, "stale");
  put("e/mainhost.json", "{}");
  if (load_ok(&c, "e") == 0) {
    CHECK_STR(errbuf, "");
    mh_config_close(&c);
  }
}

int main(void)
{
  test_suggest();
  test_fixtures();  /* before the chdir: MH_FIXTURES may be relative */

  char tmpl[] = "/tmp/mh_config_XXXXXX";
  if (!mkdtemp(tmpl) || !realpath(tmpl, root) || chdir(root) != 0) {
    perror("temporary directory");
    return 2;
  }
  put("e/main.lua", "");
  put("e/ui.lua", "");
  put("e/sub/ui.lua", "");

  test_lone_script();
  test_full_config();
  test_json_path();
  test_app_paths();
  test_invalid_json();
  test_unknown_keys();
  test_wrong_types();
  test_script_or_command();
  test_missing_paths();
  test_names();
  test_restart();
  test_channels();
  test_channel_allowed();
  test_limits();
  test_error_buffer();

  if (chdir("/") == 0)
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_DONE();
}
