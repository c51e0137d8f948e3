/* mh_emitter.h: the channel emitter and handler registry behind ipcMain and
 * webContents.ipc. It stores opaque integer references (Lua registry refs
 * in practice) and identity keys; it never calls a listener itself.
 * Rule: never includes lua.h or uv.h. */
#ifndef MH_EMITTER_H
#define MH_EMITTER_H

#include <stddef.h>
#include <stdint.h>

typedef struct mh_listener {
  int ref;         /* owned by the caller's world; handed back on removal */
  uintptr_t key;   /* identity used by remove (the function's address) */
  int once;
} mh_listener_t;

typedef struct mh_emitter mh_emitter_t;

/* Called for every ref the emitter drops (removeAllListeners, free). */
typedef void (*mh_release_fn)(void *ud, int ref);

mh_emitter_t *mh_emitter_new(void);
/* Releases every listener and handler ref through `release`. */
void mh_emitter_free(mh_emitter_t *e, mh_release_fn release, void *ud);

/* Removes every listener and handler, releasing their refs; the emitter
 * stays usable (a test's reset between cases). */
void mh_emitter_clear(mh_emitter_t *e, mh_release_fn release, void *ud);

/* Appends (or, with prepend, inserts first) a listener. 0, or -1 on out of
 * memory (nothing added; the ref is still the caller's). */
int mh_emitter_add(mh_emitter_t *e, const char *ch, size_t n, int ref,
                   uintptr_t key, int once, int prepend);
/* Removes the most recently added listener whose key matches (Node's
 * removeListener). Returns 1 and sets *ref when one was removed, else 0. */
int mh_emitter_remove(mh_emitter_t *e, const char *ch, size_t n,
                      uintptr_t key, int *ref);
/* Removes the listener holding exactly `ref` (used to retire a `once`
 * listener as it fires). Returns 1 when found. */
int mh_emitter_remove_ref(mh_emitter_t *e, const char *ch, size_t n, int ref);
/* Removes every listener of `ch`, or of every channel when ch is NULL,
 * releasing their refs. Handlers are not touched. Returns the number. */
size_t mh_emitter_remove_all(mh_emitter_t *e, const char *ch, size_t n,
                             mh_release_fn release, void *ud);
size_t mh_emitter_count(const mh_emitter_t *e, const char *ch, size_t n);
/* The listeners of `ch` in call order (borrowed; valid until the next
 * change to the emitter), or NULL with *count 0. */
const mh_listener_t *mh_emitter_listeners(const mh_emitter_t *e,
                                          const char *ch, size_t n,
                                          size_t *count);
/* Calls fn for each channel that has listeners, in first-registration
 * order. */
void mh_emitter_each_channel(const mh_emitter_t *e,
                             void (*fn)(void *ud, const char *ch, size_t n),
                             void *ud);

/* Handlers: at most one per channel. set: 0, -2 when the channel already has
 * one, -1 on out of memory. get: 1 and *ref and *once when present, else 0.
 * remove: 1 and *ref when one was removed. */
int mh_emitter_set_handler(mh_emitter_t *e, const char *ch, size_t n, int ref,
                           int once);
int mh_emitter_get_handler(const mh_emitter_t *e, const char *ch, size_t n,
                           int *ref, int *once);
int mh_emitter_remove_handler(mh_emitter_t *e, const char *ch, size_t n,
                              int *ref);

#endif
