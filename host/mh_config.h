/* mh_config.h: the app's config (mainhost.json), read and checked with
 * jansson before anything starts. Rule: never includes lua.h or uv.h. */
#ifndef MH_CONFIG_H
#define MH_CONFIG_H

#include <stddef.h>

/* Every string below is owned by the config and freed by mh_config_close. */
typedef struct mh_renderer_conf {
  char *name;      /* unique; defaults to the script/program base name */
  char *script;    /* absolute path of a Lua renderer script, or NULL */
  char **command;  /* NULL-terminated argv for any program, or NULL; exactly
                      one of script/command is set */
  char **args;     /* NULL-terminated extra arguments (never NULL) */
  char *cwd;       /* absolute working directory (the app dir by default) */
  char **env;      /* NULL-terminated "KEY=VALUE" additions (never NULL) */
  int restart;      /* MH_RESTART_*: when to start it again after it exits */
  int max_restarts; /* restarts allowed, 0..1000 */
  char **channels;  /* NULL-terminated channel allowlist: exact names, or
                       prefixes ending in one "*" ("jobs:*"); NULL: every
                       channel is allowed; { NULL }: none is */
} mh_renderer_conf_t;

/* "restart": "never" | "on-failure" | "always" */
#define MH_RESTART_NEVER 0
#define MH_RESTART_ON_FAILURE 1
#define MH_RESTART_ALWAYS 2
#define MH_DEFAULT_MAX_RESTARTS 5

typedef struct mh_limits {
  size_t max_message_bytes;  /* a line longer than this is refused */
  int max_depth;             /* JSON nesting deeper than this is refused */
  size_t max_queued_bytes;   /* bytes held for a renderer that does not
                                read; at least 64 KiB */
  size_t max_pending_invokes; /* invokes awaiting a reply, 1..1000000 */
  size_t max_pending_sync;   /* sync messages awaiting a reply, 1..100000 */
  unsigned quit_timeout_ms;  /* after a renderer's channel closes, how long
                                it gets to exit before SIGTERM, and again
                                before SIGKILL; 0..600000 */
} mh_limits_t;

typedef struct mh_config {
  char *path;      /* the config file, or NULL for a lone main script */
  char *dir;       /* absolute app directory */
  char *main;      /* absolute path of the main script, or NULL */
  mh_renderer_conf_t *renderers;
  size_t nrenderers;
  mh_limits_t limits;
} mh_config_t;

#define MH_DEFAULT_MAX_MESSAGE_BYTES ((size_t)64 << 20)
#define MH_DEFAULT_MAX_DEPTH 200
#define MH_DEFAULT_MAX_QUEUED_BYTES ((size_t)64 << 20)
#define MH_DEFAULT_MAX_PENDING_INVOKES ((size_t)10000)
#define MH_DEFAULT_MAX_PENDING_SYNC ((size_t)64)
#define MH_DEFAULT_QUIT_TIMEOUT_MS 2000u

/* Reads APP: a directory holding mainhost.json, a *.json config file, or a
 * single *.lua main script (no renderers). 0 on success; -1 with a message
 * in err (file, key path, what was expected, and for an unknown key the
 * nearest valid one) and the config left empty. */
int mh_config_load(mh_config_t *c, const char *app, char *err, size_t errlen);
void mh_config_close(mh_config_t *c);

/* The valid key nearest to `word` among the NULL-terminated `keys` (edit
 * distance at most 2, or 1/3 of the word), or NULL. */
const char *mh_config_suggest(const char *word, const char *const *keys);

/* 1 when a renderer with the allowlist CHANNELS (mh_renderer_conf_t's
 * channels) may use the channel CH of N bytes (which may hold NUL bytes):
 * CHANNELS is NULL, or CH equals an entry, or starts with the part of a
 * "prefix*" entry before its "*". Otherwise 0. */
int mh_config_channel_allowed(char *const *channels, const char *ch, size_t n);

/* The variables the host sets in every renderer's environment (the
 * protocol's), NULL-terminated. */
extern const char *const mh_config_protocol_env[];

/* NULL when NAME may be set in a renderer's "env"; else why not (empty, an
 * "=" in it, or one of mh_config_protocol_env). */
const char *mh_config_env_name_problem(const char *name);

#endif
