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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* ---- tests ----------------------------------------------------------- */

static void test_suggest(void)
{
  static const char *const top[] = {"main", "renderers", "limits", NULL};
  static const char *const rend[] = {"name", "script", "command", "args", "cwd", "env", NULL};
  static const char *const lim[] = {"maxMessageBytes", "maxDepth", NULL};
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
  }
  CHECK_INT(c.limits.max_message_bytes, 1048576);
  CHECK_INT(c.limits.max_depth, 64);
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
    CHECK_INT(c.limits.max_message_bytes, MH_DEFAULT_MAX_MESSAGE_BYTES);
    CHECK_INT(c.limits.max_depth, MH_DEFAULT_MAX_DEPTH);
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
      "     \"cwd\": \"sub\", \"env\": {\"K\": \"V\", \"EMPTY\": \"\", \"EQ\": \"a=b\"}},\n"
      "    {\"name\": \"worker\", \"command\": [\"node\", \"worker.js\", \"\"]}\n"
      "  ],\n"
      "  \"limits\": {\"maxMessageBytes\": 1048576, \"maxDepth\": 50}\n"
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

    CHECK_STR(w->name, "worker");
    CHECK(w->script == NULL);
    CHECK_INT(strv_len(w->command), 3);
    CHECK_STR(w->command[0], "node");  /* not looked up: PATH is for spawn time */
    CHECK_STR(w->command[1], "worker.js");
    CHECK_STR(w->command[2], "");
    CHECK(w->args != NULL && w->args[0] == NULL);
    CHECK(w->env != NULL && w->env[0] == NULL);
    CHECK_STR(w->cwd, abspath("full"));
  }
  CHECK_INT(c.limits.max_message_bytes, 1048576);
  CHECK_INT(c.limits.max_depth, 50);
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
    CHECK_INT(c.limits.max_message_bytes, MH_DEFAULT_MAX_MESSAGE_BYTES);
    CHECK_INT(c.limits.max_depth, MH_DEFAULT_MAX_DEPTH);
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
  m = json_err("");
  CHECK(strncmp(m, "e/mainhost.json:", 16) == 0 && strstr(m, ": invalid JSON: ") != NULL);
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
                "\"command\", \"args\", \"cwd\", \"env\")"));
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
  test_limits();
  test_error_buffer();

  if (chdir("/") == 0)
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return TEST_DONE();
}
