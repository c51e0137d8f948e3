/* mh_invoke.h: the request table behind invoke and sendSync: which request
 * ids of one renderer still await their one reply. Rule: never includes
 * lua.h or uv.h. */
#ifndef MH_INVOKE_H
#define MH_INVOKE_H

#include <stddef.h>
#include <stdint.h>

typedef enum mh_req_kind { MH_REQ_INVOKE = 1, MH_REQ_SYNC = 2 } mh_req_kind_t;

typedef struct mh_req {
  int64_t id;
  int kind;        /* mh_req_kind_t; 0 marks a free slot */
  int tomb;        /* a removed slot (keeps probe chains intact) */
} mh_req_t;

/* Open-addressing set of pending request ids, embedded in its owner. */
typedef struct mh_pending {
  mh_req_t *slots;
  size_t cap;      /* power of two, or 0 */
  size_t count;    /* live entries */
  size_t used;     /* live + tombstones */
} mh_pending_t;

void mh_pending_init(mh_pending_t *p);
void mh_pending_close(mh_pending_t *p);
/* 0 added; -2 the id is already pending (a reused id); -1 out of memory. */
int mh_pending_add(mh_pending_t *p, int64_t id, mh_req_kind_t kind);
/* The same with any positive int in place of the kind (the Lua renderer
 * maps invoke ids to its waiting slots with it); mh_pending_take returns it. */
int mh_pending_put(mh_pending_t *p, int64_t id, int kind);
/* Takes the id out: returns its kind, or 0 when it was not pending (the
 * reply was already sent: exactly one reply per request). */
int mh_pending_take(mh_pending_t *p, int64_t id);
/* 1 when id is pending. */
int mh_pending_has(const mh_pending_t *p, int64_t id);
static inline size_t mh_pending_count(const mh_pending_t *p) { return p->count; }
/* Calls fn for every pending id (to fail them all at shutdown); the table
 * must not be changed from fn. */
void mh_pending_each(const mh_pending_t *p,
                     void (*fn)(void *ud, int64_t id, mh_req_kind_t kind),
                     void *ud);

#endif
