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
} mh_renderer_conf_t;

typedef struct mh_limits {
  size_t max_message_bytes;  /* a line longer than this is refused */
  int max_depth;             /* JSON nesting deeper than this is refused */
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

/* Reads APP: a directory holding mainhost.json, a *.json config file, or a
 * single *.lua main script (no renderers). 0 on success; -1 with a message
 * in err (file, key path, what was expected, and for an unknown key the
 * nearest valid one) and the config left empty. */
int mh_config_load(mh_config_t *c, const char *app, char *err, size_t errlen);
void mh_config_close(mh_config_t *c);

/* The valid key nearest to `word` among the NULL-terminated `keys` (edit
 * distance at most 2, or 1/3 of the word), or NULL. */
const char *mh_config_suggest(const char *word, const char *const *keys);

#endif
