/* mh_config.c: reads the app's config (mainhost.json) with jansson and checks
 * every key before anything starts, so a typo is one clear line, not a
 * half-started app. Rule: never includes lua.h or uv.h. */
/* realpath, strdup: POSIX, not C11; meson passes _GNU_SOURCE. */
#ifndef _GNU_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "mh_config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MH_CONFIG_FILE "mainhost.json"
#define MH_KEYPATH_MAX 256
#define MH_MIN_MESSAGE_BYTES 1024
#define MH_MAX_DEPTH_LIMIT 10000
#define MH_MIN_QUEUED_BYTES ((long long)64 << 10)
#define MH_MAX_PENDING_INVOKES_LIMIT 1000000
#define MH_MAX_PENDING_SYNC_LIMIT 100000
#define MH_QUIT_TIMEOUT_LIMIT 600000
#define MH_MAX_RESTARTS_LIMIT 1000

/* C11 only promises a 16-bit unsigned. */
_Static_assert(UINT_MAX >= MH_QUIT_TIMEOUT_LIMIT, "quitTimeoutMs fits in unsigned");

static const char *const mh_top_keys[] = {"main", "renderers", "limits", NULL};
static const char *const mh_renderer_keys[] = {
  "name", "script", "command", "args", "cwd", "env",
  "restart", "maxRestarts", "channels", NULL};
static const char *const mh_limit_keys[] = {
  "maxMessageBytes", "maxDepth", "maxQueuedBytes", "maxPendingInvokes",
  "maxPendingSync", "quitTimeoutMs", NULL};
/* Indexed by MH_RESTART_*. */
static const char *const mh_restart_values[] = {"never", "on-failure", "always", NULL};

/* What every check needs to say where it failed and to resolve paths. */
typedef struct mh_cfg_ctx {
  const char *file;  /* the config path as the user gave it: messages only */
  const char *dir;   /* absolute app dir that relative paths start from */
  char *err;
  size_t errlen;
} mh_cfg_ctx_t;

/* ---- messages -------------------------------------------------------- */

/* Writes "FILE: KEY: message" (KEY may be NULL) and returns -1. Control
 * characters from file names, keys or jansson become spaces, so the
 * message stays one line. */
static int cfg_fail(mh_cfg_ctx_t *x, const char *key, const char *fmt, ...)
{
  if (!x->err || x->errlen == 0)
    return -1;
  int n = key ? snprintf(x->err, x->errlen, "%s: %s: ", x->file, key)
              : snprintf(x->err, x->errlen, "%s: ", x->file);
  if (n >= 0 && (size_t)n < x->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  for (char *p = x->err; *p; p++)
    if (iscntrl((unsigned char)*p))
      *p = ' ';
  return -1;
}

static int cfg_oom(mh_cfg_ctx_t *x)
{
  return cfg_fail(x, NULL, "out of memory");
}

/* The C library's message with a lower-case first letter, to match ours. */
static const char *cfg_strerror(int e, char *buf, size_t n)
{
  snprintf(buf, n, "%s", strerror(e));
  buf[0] = (char)tolower((unsigned char)buf[0]);
  return buf;
}

/* The JSON type as a user thinks of it: jansson's integer/real split and
 * true/false types mean nothing to someone writing a config. */
static const char *cfg_typename(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER:
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  default: return "null";
  }
}

/* Appends S to OUT as a double-quoted string with " \ and control bytes
 * escaped, truncating to fit. */
static void cfg_quote(char *out, size_t n, const char *s)
{
  size_t o = strlen(out);
  const char *end = "\"";
  if (o + 1 < n)
    out[o++] = '"';
  /* Stop with room for the widest escape plus the closing ..." */
  for (; *s && o + 12 < n; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      o += (size_t)snprintf(out + o, n - o, "\\%c", ch);
    else if (ch < 0x20 || ch == 0x7f)
      o += (size_t)snprintf(out + o, n - o, "\\u%04x", ch);
    else
      out[o++] = (char)ch;
  }
  if (*s)
    end = "...\"";
  out[o] = '\0';
  if (o + strlen(end) < n)
    strcat(out, end);
}

static int cfg_is_ident(const char *s)
{
  if (!isalpha((unsigned char)*s) && *s != '_')
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_')
      return 0;
  return 1;
}

/* OUT = PARENT.KEY, or PARENT["KEY"] when the key is no identifier, so the
 * path can be read back even for odd keys. PARENT may be NULL. */
static void cfg_key(char *out, size_t n, const char *parent, const char *key)
{
  snprintf(out, n, "%s", parent ? parent : "");
  size_t o = strlen(out);
  if (cfg_is_ident(key)) {
    snprintf(out + o, n - o, "%s%s", parent ? "." : "", key);
  } else {
    snprintf(out + o, n - o, "[");
    cfg_quote(out, n, key);
    o = strlen(out);
    snprintf(out + o, n - o, "]");
  }
}

static void cfg_index(char *out, size_t n, const char *parent, size_t i)
{
  snprintf(out, n, "%s", parent);
  size_t o = strlen(out);
  snprintf(out + o, n - o, "[%zu]", i);
}

/* ---- key suggestions ------------------------------------------------- */

/* Case-insensitive edit distance, or SIZE_MAX when out of memory. */
static size_t cfg_distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  size_t *row = malloc((lb + 1) * sizeof *row);
  if (!row)
    return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      size_t best = diag + cost;
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  size_t d = row[lb];
  free(row);
  return d;
}

const char *mh_config_suggest(const char *word, const char *const *keys)
{
  size_t wl = strlen(word);
  size_t limit = wl / 3 > 2 ? wl / 3 : 2;
  const char *best = NULL;
  size_t best_d = SIZE_MAX;
  for (; *keys; keys++) {
    size_t kl = strlen(*keys);
    /* The length difference bounds the distance from below: skip early so
     * a megabyte-long key costs nothing. */
    if ((kl > wl ? kl - wl : wl - kl) > limit)
      continue;
    size_t d = cfg_distance(word, *keys);
    if (d <= limit && d < best_d) {
      best = *keys;
      best_d = d;
    }
  }
  return best;
}

/* Fails on the first key of OBJ not in KEYS, naming the nearest valid one,
 * or listing them all when none is near. */
static int cfg_known_keys(mh_cfg_ctx_t *x, const char *parent, json_t *obj,
                          const char *const *keys)
{
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    const char *const *k = keys;
    while (*k && strcmp(*k, key) != 0)
      k++;
    if (*k)
      continue;
    char kp[MH_KEYPATH_MAX];
    cfg_key(kp, sizeof kp, parent, key);
    const char *near = mh_config_suggest(key, keys);
    if (near)
      return cfg_fail(x, kp, "unknown key (did you mean \"%s\"?)", near);
    char list[2 * MH_KEYPATH_MAX] = "";
    for (k = keys; *k; k++) {
      size_t o = strlen(list);
      snprintf(list + o, sizeof list - o, "%s\"%s\"", k == keys ? "" : ", ", *k);
    }
    return cfg_fail(x, kp, "unknown key (valid keys: %s)", list);
  }
  return 0;
}

/* ---- paths ----------------------------------------------------------- */

static int cfg_has_suffix(const char *s, const char *suffix)
{
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* A new string: REL when absolute, else DIR/REL. */
static char *cfg_join(const char *dir, const char *rel)
{
  if (rel[0] == '/')
    return strdup(rel);
  size_t ld = strlen(dir);
  int slash = ld == 0 || dir[ld - 1] != '/';
  char *out = malloc(ld + (size_t)slash + strlen(rel) + 1);
  if (out)
    sprintf(out, "%s%s%s", dir, slash ? "/" : "", rel);
  return out;
}

/* A new string: the directory part of the absolute path PATH. */
static char *cfg_dirname(const char *path)
{
  const char *slash = strrchr(path, '/');
  size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
  char *out = malloc(n + 1);
  if (out) {
    memcpy(out, slash ? path : "/", n);
    out[n] = '\0';
  }
  return out;
}

/* Resolves REL against the app dir and checks that it names a directory
 * (want_dir) or a regular file. A new realpath, or NULL after a message. */
static char *cfg_resolve(mh_cfg_ctx_t *x, const char *key, const char *rel, int want_dir)
{
  char ebuf[128];
  char *joined = cfg_join(x->dir, rel);
  char *real = NULL;
  struct stat st;
  if (!joined) {
    cfg_oom(x);
    return NULL;
  }
  if (stat(joined, &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      cfg_fail(x, key, "%s not found: %s", want_dir ? "directory" : "file", joined);
    else
      cfg_fail(x, key, "%s: %s", joined, cfg_strerror(errno, ebuf, sizeof ebuf));
  } else if (want_dir && !S_ISDIR(st.st_mode)) {
    cfg_fail(x, key, "not a directory: %s", joined);
  } else if (!want_dir && !S_ISREG(st.st_mode)) {
    cfg_fail(x, key, "not a regular file: %s", joined);
  } else if (!(real = realpath(joined, NULL))) {
    cfg_fail(x, key, "%s: %s", joined, cfg_strerror(errno, ebuf, sizeof ebuf));
  }
  free(joined);
  return real;
}

/* ---- typed getters ---------------------------------------------------- */

/* Checks that V is a non-empty string; KEY names it in the message. */
static const char *cfg_string(mh_cfg_ctx_t *x, const char *key, json_t *v)
{
  if (!json_is_string(v)) {
    cfg_fail(x, key, "expected a string, got %s", cfg_typename(v));
    return NULL;
  }
  if (json_string_length(v) == 0) {
    cfg_fail(x, key, "expected a non-empty string");
    return NULL;
  }
  return json_string_value(v);
}

/* A new NULL-terminated copy of the array of strings V (NULL: an empty
 * one); ALLOW_EMPTY says whether "" is a valid element. */
static char **cfg_strings(mh_cfg_ctx_t *x, const char *key, json_t *v, int allow_empty)
{
  if (v && !json_is_array(v)) {
    cfg_fail(x, key, "expected an array of strings, got %s", cfg_typename(v));
    return NULL;
  }
  size_t n = v ? json_array_size(v) : 0;
  char **out = calloc(n + 1, sizeof *out);
  if (!out) {
    cfg_oom(x);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(v, i);
    char kp[MH_KEYPATH_MAX];
    cfg_index(kp, sizeof kp, key, i);
    const char *s = allow_empty && json_is_string(e) ? json_string_value(e)
                                                     : cfg_string(x, kp, e);
    if (!s)
      goto error;
    if (!(out[i] = strdup(s))) {
      cfg_oom(x);
      goto error;
    }
  }
  return out;
error:
  for (size_t i = 0; out[i]; i++)
    free(out[i]);
  free(out);
  return NULL;
}

const char *const mh_config_protocol_env[] = {"MAINHOST_IPC_FD", "NODE_CHANNEL_FD",
                                              "NODE_CHANNEL_SERIALIZATION_MODE", "MAINHOST_RENDERER_ID",
                                              "MAINHOST_RENDERER_NAME", "MAINHOST_MAX_DEPTH", NULL};

const char *mh_config_env_name_problem(const char *name) {
  /* An "=" in a name would make the entry mean another variable. */
  if (name[0] == '\0' || strchr(name, '=')) return "invalid variable name (must be non-empty, without \"=\")";
  for (size_t i = 0; mh_config_protocol_env[i]; i++)
    if (!strcmp(name, mh_config_protocol_env[i]))
      return "set by the host in every renderer's environment (the protocol's variables); it cannot be set here";
  return NULL;
}

/* A new NULL-terminated array of "KEY=VALUE" from the object V (NULL: an
 * empty one). */
static char **cfg_env(mh_cfg_ctx_t *x, const char *key, json_t *v)
{
  if (v && !json_is_object(v)) {
    cfg_fail(x, key, "expected an object of strings, got %s", cfg_typename(v));
    return NULL;
  }
  size_t n = v ? json_object_size(v) : 0, i = 0;
  char **out = calloc(n + 1, sizeof *out);
  const char *name;
  json_t *val;
  if (!out) {
    cfg_oom(x);
    return NULL;
  }
  if (v) {
    json_object_foreach(v, name, val) {
      char kp[MH_KEYPATH_MAX];
      cfg_key(kp, sizeof kp, key, name);
      const char *why = mh_config_env_name_problem(name);
      if (why) {
        cfg_fail(x, kp, "%s", why);
        goto error;
      }
      if (!json_is_string(val)) {
        cfg_fail(x, kp, "expected a string, got %s", cfg_typename(val));
        goto error;
      }
      const char *s = json_string_value(val);
      if (!(out[i] = malloc(strlen(name) + strlen(s) + 2))) {
        cfg_oom(x);
        goto error;
      }
      sprintf(out[i++], "%s=%s", name, s);
    }
  }
  return out;
error:
  for (i = 0; out[i]; i++)
    free(out[i]);
  free(out);
  return NULL;
}

/* Reads an integer in [lo, hi] into *out. A real with no fraction is fine:
 * 6.4e7 is a natural way to write a byte count. */
static int cfg_int(mh_cfg_ctx_t *x, const char *key, json_t *v, long long lo,
                   long long hi, long long *out)
{
  char range[64];
  if (hi == LLONG_MAX)
    snprintf(range, sizeof range, ">= %lld", lo);
  else
    snprintf(range, sizeof range, "from %lld to %lld", lo, hi);
  if (json_is_integer(v)) {
    *out = (long long)json_integer_value(v);
  } else if (json_is_real(v)) {
    double d = json_real_value(v);
    /* The bounds check comes first so the cast below is defined; (double)hi
     * may round up to 2^63, which no long long holds. */
    if (!(d >= (double)lo && d <= (double)hi && d < 0x1p63))
      return cfg_fail(x, key, "expected an integer %s, got %g", range, d);
    if ((double)(long long)d != d)
      return cfg_fail(x, key, "expected an integer, got %g", d);
    *out = (long long)d;
  } else {
    return cfg_fail(x, key, "expected an integer, got %s", cfg_typename(v));
  }
  if (*out < lo || *out > hi)
    return cfg_fail(x, key, "expected an integer %s, got %lld", range, *out);
  return 0;
}

/* The largest byte count a size_t limit may hold: SIZE_MAX, capped to what
 * cfg_int can read. */
static long long cfg_size_hi(void)
{
  return SIZE_MAX < (unsigned long long)LLONG_MAX ? (long long)SIZE_MAX : LLONG_MAX;
}

/* ---- sections -------------------------------------------------------- */

static int cfg_name_ok(const char *s)
{
  if (!*s)
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("_.:-", *s))
      return 0;
  return 1;
}

static int cfg_limits(mh_cfg_ctx_t *x, json_t *v, mh_limits_t *lim)
{
  long long n;
  json_t *e;
  if (!json_is_object(v))
    return cfg_fail(x, "limits", "expected an object, got %s", cfg_typename(v));
  if (cfg_known_keys(x, "limits", v, mh_limit_keys) != 0)
    return -1;
  if ((e = json_object_get(v, "maxMessageBytes"))) {
    if (cfg_int(x, "limits.maxMessageBytes", e, MH_MIN_MESSAGE_BYTES, cfg_size_hi(), &n) != 0)
      return -1;
    lim->max_message_bytes = (size_t)n;
  }
  if ((e = json_object_get(v, "maxDepth"))) {
    if (cfg_int(x, "limits.maxDepth", e, 1, MH_MAX_DEPTH_LIMIT, &n) != 0)
      return -1;
    lim->max_depth = (int)n;
  }
  if ((e = json_object_get(v, "maxQueuedBytes"))) {
    if (cfg_int(x, "limits.maxQueuedBytes", e, MH_MIN_QUEUED_BYTES, cfg_size_hi(), &n) != 0)
      return -1;
    lim->max_queued_bytes = (size_t)n;
  }
  if ((e = json_object_get(v, "maxPendingInvokes"))) {
    if (cfg_int(x, "limits.maxPendingInvokes", e, 1, MH_MAX_PENDING_INVOKES_LIMIT, &n) != 0)
      return -1;
    lim->max_pending_invokes = (size_t)n;
  }
  if ((e = json_object_get(v, "maxPendingSync"))) {
    if (cfg_int(x, "limits.maxPendingSync", e, 1, MH_MAX_PENDING_SYNC_LIMIT, &n) != 0)
      return -1;
    lim->max_pending_sync = (size_t)n;
  }
  if ((e = json_object_get(v, "quitTimeoutMs"))) {
    if (cfg_int(x, "limits.quitTimeoutMs", e, 0, MH_QUIT_TIMEOUT_LIMIT, &n) != 0)
      return -1;
    lim->quit_timeout_ms = (unsigned)n;
  }
  return 0;
}

/* Reads "restart" into *out (an MH_RESTART_*); an unknown value lists the
 * choices and names the nearest one. */
static int cfg_restart(mh_cfg_ctx_t *x, const char *key, json_t *v, int *out)
{
  static const char choices[] = "expected \"never\", \"on-failure\" or \"always\"";
  if (!json_is_string(v))
    return cfg_fail(x, key, "%s, got %s", choices, cfg_typename(v));
  const char *s = json_string_value(v);
  for (int i = 0; mh_restart_values[i]; i++) {
    if (strcmp(s, mh_restart_values[i]) == 0) {
      *out = i;
      return 0;
    }
  }
  char q[MH_KEYPATH_MAX] = "";
  cfg_quote(q, sizeof q, s);
  const char *near = mh_config_suggest(s, mh_restart_values);
  if (near)
    return cfg_fail(x, key, "%s, got %s (did you mean \"%s\"?)", choices, q, near);
  return cfg_fail(x, key, "%s, got %s", choices, q);
}

/* A new channel allowlist from the array V: non-empty strings, each an
 * exact name or a prefix ending in one "*"; NULL after a message. */
static char **cfg_channels(mh_cfg_ctx_t *x, const char *key, json_t *v)
{
  char **out = cfg_strings(x, key, v, 0);
  for (size_t i = 0; out && out[i]; i++) {
    const char *star = strchr(out[i], '*');
    if (star && star[1] == '\0')
      continue;
    if (star) {
      char kp[MH_KEYPATH_MAX], q[MH_KEYPATH_MAX] = "";
      cfg_index(kp, sizeof kp, key, i);
      cfg_quote(q, sizeof q, out[i]);
      cfg_fail(x, kp, "invalid channel %s (\"*\" may only end a prefix, as in \"jobs:*\")", q);
      for (i = 0; out[i]; i++)
        free(out[i]);
      free(out);
      return NULL;
    }
  }
  return out;
}

int mh_config_channel_allowed(char *const *channels, const char *ch, size_t n)
{
  if (!channels)
    return 1;
  for (; *channels; channels++) {
    const char *e = *channels;
    size_t len = strlen(e);
    /* n == 0 may come with ch == NULL, which memcmp must never see. */
    if (len > 0 && e[len - 1] == '*') {
      if (n >= len - 1 && (len == 1 || memcmp(ch, e, len - 1) == 0))
        return 1;
    } else if (len == n && (n == 0 || memcmp(ch, e, n) == 0)) {
      return 1;
    }
  }
  return 0;
}

/* Fills R from the entry V at KP; the name is checked here but made unique
 * by the caller, which sees all entries. */
static int cfg_renderer(mh_cfg_ctx_t *x, const char *kp, json_t *v, mh_renderer_conf_t *r)
{
  char sub[MH_KEYPATH_MAX];
  const char *s;
  json_t *e;
  long long n;
  r->restart = MH_RESTART_NEVER;
  r->max_restarts = MH_DEFAULT_MAX_RESTARTS;
  r->channels = NULL;
  if (!json_is_object(v))
    return cfg_fail(x, kp, "expected an object, got %s", cfg_typename(v));
  if (cfg_known_keys(x, kp, v, mh_renderer_keys) != 0)
    return -1;

  if ((e = json_object_get(v, "name"))) {
    cfg_key(sub, sizeof sub, kp, "name");
    if (!(s = cfg_string(x, sub, e)))
      return -1;
    if (!cfg_name_ok(s)) {
      char q[MH_KEYPATH_MAX] = "";
      cfg_quote(q, sizeof q, s);
      return cfg_fail(x, sub, "invalid name %s (use letters, digits and _.:-)", q);
    }
    if (!(r->name = strdup(s)))
      return cfg_oom(x);
  }

  json_t *script = json_object_get(v, "script"), *command = json_object_get(v, "command");
  if (script && command)
    return cfg_fail(x, kp, "has both \"script\" and \"command\" (use one)");
  if (!script && !command)
    return cfg_fail(x, kp, "needs \"script\" or \"command\"");
  if (script) {
    cfg_key(sub, sizeof sub, kp, "script");
    if (!(s = cfg_string(x, sub, script)) || !(r->script = cfg_resolve(x, sub, s, 0)))
      return -1;
  } else {
    cfg_key(sub, sizeof sub, kp, "command");
    /* Elements after the program may be "" (an empty argument is valid);
     * the program itself may not, and is looked up in PATH at spawn. */
    if (!(r->command = cfg_strings(x, sub, command, 1)))
      return -1;
    if (!r->command[0])
      return cfg_fail(x, sub, "expected a non-empty array of strings");
    if (!r->command[0][0]) {
      char first[MH_KEYPATH_MAX];
      cfg_index(first, sizeof first, sub, 0);
      return cfg_fail(x, first, "expected a non-empty string");
    }
  }

  cfg_key(sub, sizeof sub, kp, "args");
  if (!(r->args = cfg_strings(x, sub, json_object_get(v, "args"), 1)))
    return -1;

  cfg_key(sub, sizeof sub, kp, "cwd");
  if ((e = json_object_get(v, "cwd"))) {
    if (!(s = cfg_string(x, sub, e)) || !(r->cwd = cfg_resolve(x, sub, s, 1)))
      return -1;
  } else if (!(r->cwd = strdup(x->dir))) {
    return cfg_oom(x);
  }

  cfg_key(sub, sizeof sub, kp, "env");
  if (!(r->env = cfg_env(x, sub, json_object_get(v, "env"))))
    return -1;

  if ((e = json_object_get(v, "restart"))) {
    cfg_key(sub, sizeof sub, kp, "restart");
    if (cfg_restart(x, sub, e, &r->restart) != 0)
      return -1;
  }
  if ((e = json_object_get(v, "maxRestarts"))) {
    cfg_key(sub, sizeof sub, kp, "maxRestarts");
    if (cfg_int(x, sub, e, 0, MH_MAX_RESTARTS_LIMIT, &n) != 0)
      return -1;
    r->max_restarts = (int)n;
  }
  /* Absent: every channel is allowed (NULL); [] allows none. */
  if ((e = json_object_get(v, "channels"))) {
    cfg_key(sub, sizeof sub, kp, "channels");
    if (!(r->channels = cfg_channels(x, sub, e)))
      return -1;
  }
  return 0;
}

static int cfg_name_taken(const mh_config_t *c, const char *name)
{
  for (size_t i = 0; i < c->nrenderers; i++)
    if (c->renderers[i].name && strcmp(c->renderers[i].name, name) == 0)
      return 1;
  return 0;
}

/* A new default name: the script's base name without ".lua", or the
 * program's base name, with bytes a name may not hold turned into "_". */
static char *cfg_default_name(const mh_renderer_conf_t *r)
{
  const char *path = r->script ? r->script : r->command[0];
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(base);
  if (r->script && cfg_has_suffix(base, ".lua"))
    n -= 4;
  if (n == 0) {
    base = "renderer";
    n = strlen(base);
  }
  char *out = malloc(n + 1);
  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)base[i];
    out[i] = isalnum(ch) || strchr("_.:-", ch) ? (char)ch : '_';
  }
  out[n] = '\0';
  return out;
}

/* Explicit names must be unique; defaults then give way to every name
 * already taken, explicit ones included, by growing a "-2", "-3" suffix. */
static int cfg_names(mh_cfg_ctx_t *x, mh_config_t *c)
{
  for (size_t i = 0; i < c->nrenderers; i++) {
    const char *name = c->renderers[i].name;
    for (size_t j = 0; name && j < i; j++) {
      if (c->renderers[j].name && strcmp(c->renderers[j].name, name) == 0) {
        char kp[MH_KEYPATH_MAX], q[MH_KEYPATH_MAX] = "";
        snprintf(kp, sizeof kp, "renderers[%zu].name", i);
        cfg_quote(q, sizeof q, name);
        return cfg_fail(x, kp, "duplicate name %s (also renderers[%zu])", q, j);
      }
    }
  }
  for (size_t i = 0; i < c->nrenderers; i++) {
    mh_renderer_conf_t *r = &c->renderers[i];
    if (r->name)
      continue;
    char *base = cfg_default_name(r);
    if (!base)
      return cfg_oom(x);
    char *name = base;
    for (unsigned long k = 2; cfg_name_taken(c, name); k++) {
      if (name != base)
        free(name);
      if (!(name = malloc(strlen(base) + 24))) {
        free(base);
        return cfg_oom(x);
      }
      sprintf(name, "%s-%lu", base, k);
    }
    if (name != base)
      free(base);
    r->name = name;
  }
  return 0;
}

static int cfg_renderers(mh_cfg_ctx_t *x, json_t *v, mh_config_t *c)
{
  if (!json_is_array(v))
    return cfg_fail(x, "renderers", "expected an array, got %s", cfg_typename(v));
  size_t n = json_array_size(v);
  if (n == 0)
    return 0;
  if (!(c->renderers = calloc(n, sizeof *c->renderers)))
    return cfg_oom(x);
  for (size_t i = 0; i < n; i++) {
    char kp[MH_KEYPATH_MAX];
    cfg_index(kp, sizeof kp, "renderers", i);
    /* Count it first so mh_config_close frees a half-filled entry. */
    c->nrenderers = i + 1;
    if (cfg_renderer(x, kp, json_array_get(v, i), &c->renderers[i]) != 0)
      return -1;
  }
  return cfg_names(x, c);
}

static int cfg_document(mh_cfg_ctx_t *x, json_t *root, mh_config_t *c)
{
  json_t *v;
  const char *s;
  if (!json_is_object(root))
    return cfg_fail(x, NULL, "expected an object at the top level, got %s", cfg_typename(root));
  if (cfg_known_keys(x, NULL, root, mh_top_keys) != 0)
    return -1;
  if ((v = json_object_get(root, "main"))) {
    if (!(s = cfg_string(x, "main", v)) || !(c->main = cfg_resolve(x, "main", s, 0)))
      return -1;
  }
  if ((v = json_object_get(root, "renderers")) && cfg_renderers(x, v, c) != 0)
    return -1;
  if ((v = json_object_get(root, "limits")) && cfg_limits(x, v, &c->limits) != 0)
    return -1;
  return 0;
}

/* ---- loading --------------------------------------------------------- */

/* Reads the config file FILE (as the user named it) into C. */
static int cfg_file(mh_cfg_ctx_t *x, mh_config_t *c)
{
  char ebuf[128];
  json_error_t jerr;
  json_t *root = NULL;
  int rc = -1;
  FILE *f = fopen(x->file, "r");
  if (!f)
    return cfg_fail(x, NULL, "%s", cfg_strerror(errno, ebuf, sizeof ebuf));
  if (!(c->path = realpath(x->file, NULL))) {
    cfg_fail(x, NULL, "%s", cfg_strerror(errno, ebuf, sizeof ebuf));
    goto error;
  }
  if (!(c->dir = cfg_dirname(c->path))) {
    cfg_oom(x);
    goto error;
  }
  x->dir = c->dir;
  /* Two mistakes jansson would report as a token error at an odd place. */
  int c0 = getc(f), c1 = c0 == 0xEF ? getc(f) : EOF, c2 = c1 == 0xBB ? getc(f) : EOF;
  if (c0 == EOF && !ferror(f)) {
    cfg_fail(x, NULL, "the file is empty (a config is a JSON object: {\"main\": \"main.lua\", ...})");
    goto error;
  }
  if (c0 == 0xEF && c1 == 0xBB && c2 == 0xBF) {
    cfg_fail(x, NULL, "the file starts with a UTF-8 byte order mark; save it without one");
    goto error;
  }
  rewind(f);
  /* Duplicate keys would make one of two settings silently lose. */
  root = json_loadf(f, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!root) {
    /* "file:line:column: " is what editors and terminals jump to. */
    mh_cfg_ctx_t at = *x;
    char where[MH_KEYPATH_MAX];
    if (jerr.line > 0) {
      snprintf(where, sizeof where, "%s:%d:%d", x->file, jerr.line, jerr.column);
      at.file = where;
    }
    cfg_fail(&at, NULL, "invalid JSON: %s", jerr.text);
    goto error;
  }
  rc = cfg_document(x, root, c);
error:
  json_decref(root);
  fclose(f);
  return rc;
}

/* A lone main script: the app is that script, with no renderers. */
static int cfg_script(mh_cfg_ctx_t *x, mh_config_t *c)
{
  char ebuf[128];
  if (!(c->main = realpath(x->file, NULL)))
    return cfg_fail(x, NULL, "%s", cfg_strerror(errno, ebuf, sizeof ebuf));
  if (!(c->dir = cfg_dirname(c->main)))
    return cfg_oom(x);
  return 0;
}

int mh_config_load(mh_config_t *c, const char *app, char *err, size_t errlen)
{
  mh_cfg_ctx_t x = {app, NULL, err, errlen};
  char ebuf[128];
  char *file = NULL;
  struct stat st;
  int rc = -1;

  memset(c, 0, sizeof *c);
  c->limits.max_message_bytes = MH_DEFAULT_MAX_MESSAGE_BYTES;
  c->limits.max_depth = MH_DEFAULT_MAX_DEPTH;
  c->limits.max_queued_bytes = MH_DEFAULT_MAX_QUEUED_BYTES;
  c->limits.max_pending_invokes = MH_DEFAULT_MAX_PENDING_INVOKES;
  c->limits.max_pending_sync = MH_DEFAULT_MAX_PENDING_SYNC;
  c->limits.quit_timeout_ms = MH_DEFAULT_QUIT_TIMEOUT_MS;
  if (err && errlen)
    err[0] = '\0';

  if (stat(app, &st) != 0) {
    cfg_fail(&x, NULL, "%s", cfg_strerror(errno, ebuf, sizeof ebuf));
  } else if (S_ISREG(st.st_mode) && cfg_has_suffix(app, ".lua")) {
    rc = cfg_script(&x, c);
  } else if (S_ISREG(st.st_mode) && cfg_has_suffix(app, ".json")) {
    rc = cfg_file(&x, c);
  } else if (!S_ISDIR(st.st_mode)) {
    cfg_fail(&x, NULL, "expected a directory, a *.json config or a *.lua main script");
  } else if (!(file = cfg_join(app, MH_CONFIG_FILE))) {
    cfg_oom(&x);
  } else if (stat(file, &st) != 0) {
    if (errno == ENOENT)
      cfg_fail(&x, NULL, "no " MH_CONFIG_FILE " in this directory");
    else
      cfg_fail(&x, NULL, MH_CONFIG_FILE ": %s", cfg_strerror(errno, ebuf, sizeof ebuf));
  } else {
    /* Messages name the file as the user would type it: "app/mainhost.json". */
    x.file = file;
    if (!S_ISREG(st.st_mode))
      cfg_fail(&x, NULL, "not a regular file");
    else
      rc = cfg_file(&x, c);
  }
  free(file);
  if (rc != 0)
    mh_config_close(c);
  return rc;
}

static void cfg_free_strv(char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

void mh_config_close(mh_config_t *c)
{
  for (size_t i = 0; i < c->nrenderers; i++) {
    mh_renderer_conf_t *r = &c->renderers[i];
    free(r->name);
    free(r->script);
    cfg_free_strv(r->command);
    cfg_free_strv(r->args);
    free(r->cwd);
    cfg_free_strv(r->env);
    cfg_free_strv(r->channels);
  }
  free(c->renderers);
  free(c->path);
  free(c->dir);
  free(c->main);
  memset(c, 0, sizeof *c);
}
