/* mh_client.c: libmainhost-renderer, the C renderer client: a channel
 * (mh_chan) on the host's socket, json_t values read with our own handler
 * over mh_json_parse and written by walking them with the mh_wire writers,
 * so that any byte string and the integer/real split survive both ways.
 * Rule: never includes lua.h; the public contract is
 * include/mainhost/renderer.h. */
#define MH_CLIENT_BUILDING 1
#include "mainhost/renderer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mh_chan.h"
#include "mh_wire.h"

#define HIGH_WATER (1u << 20)  /* as the Lua runtime: write now past 1 MiB queued */
#define READ_MAX_DEPTH 10000   /* the most the host may be configured to send */

typedef struct listener {
  struct listener *next;
  char *ch;
  size_t chn;
  mh_client_listener_cb cb;
  void *ud;
  int once, fired, linked, refs;
} listener_t;

/* One invoke waiting for its result. The channel name is kept for the
 * error text: in `small` when it fits (one allocation per invoke, and a
 * finished one is kept for the next), else malloc'd. */
typedef struct pending {
  struct pending *next;
  int64_t id;
  char *ch;
  mh_client_invoke_cb cb;
  void *ud;
  char small[40];
} pending_t;

struct mh_client {
  uv_loop_t *loop;
  uv_loop_t own_loop;
  int owns_loop;
  mh_chan_group_t group;
  mh_chan_t chan;
  uv_idle_t redispatch;  /* delivers lines held back by a blocking wait */
  int open_handles;
  int ended, end_status, closing;
  int in_run, stopping;   /* inside mh_client_run; mh_client_stop was called */
  int in_uv_run;          /* inside the uv_run of mh_client_run */
  int depth;              /* user callbacks on the C stack now */
  int64_t next_id;
  listener_t *listeners;  /* in order of registration */
  pending_t *pending;
  mh_buf_t scratch;
  mh_buf_t key;
  mh_buf_t text;          /* an error text read on the fast path */
  json_t **stack;         /* the builder's open containers, reused */
  size_t stack_cap;
  json_t *spare_args;     /* an empty array for the next message's args */
  json_t *ints[16];       /* integers no one holds, for the next args */
  int nints;
  pending_t *spare_pending;
};

static void client_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mainhost client: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* A malloc'd "prefix'ch': text"; NULL only when out of memory. */
static char *make_error(const char *prefix, const char *ch, const char *text) {
  size_t n = strlen(prefix) + strlen(ch) + strlen(text) + 8;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s'%s': %s", prefix, ch, text);
  return s;
}

static void set_error(char **error, char *s) {
  if (error) *error = s;
  else free(s);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- reading: JSON text -> json_t ------------------------------------------ */

typedef struct builder {
  json_t *root;
  json_t **stack;  /* open containers (borrowed: root owns them) */
  size_t n, cap;
  mh_buf_t *key;
} builder_t;

/* A builder on the client's stack array (kept between parses: no
 * allocation per message). Parses never nest: callbacks run after. */
static void builder_init(mh_client_t *c, builder_t *b) {
  b->root = NULL;
  b->stack = c->stack;
  b->n = 0;
  b->cap = c->stack_cap;
  b->key = &c->key;
}

static void builder_done(mh_client_t *c, builder_t *b) {
  /* A deep line's stack is not kept. */
  if (b->cap > 64) {
    free(b->stack);
    b->stack = NULL;
    b->cap = 0;
  }
  c->stack = b->stack;
  c->stack_cap = b->cap;
}

static int attach(builder_t *b, json_t *v) {
  if (!v) return 1;
  if (b->n == 0) {
    b->root = v;
    return 0;
  }
  json_t *top = b->stack[b->n - 1];
  if (json_is_array(top)) return json_array_append_new(top, v) != 0;
  /* A repeated key replaces the earlier value: the last one wins. */
  return json_object_setn_new_nocheck(top, b->key->data ? b->key->data : "", b->key->len, v) != 0;
}

static int b_scalar(void *ud, const mh_json_value_t *v, size_t index, int depth) {
  (void)index, (void)depth;
  builder_t *b = ud;
  json_t *j = NULL;
  switch (v->type) {
    case MH_JSON_NULL: j = json_null(); break;
    case MH_JSON_FALSE: j = json_false(); break;
    case MH_JSON_TRUE: j = json_true(); break;
    case MH_JSON_INTEGER: j = json_integer((json_int_t)v->i); break;
    case MH_JSON_REAL: j = json_real(v->d); break;
    case MH_JSON_STRING: j = json_stringn_nocheck(v->s ? v->s : "", v->n); break;
  }
  return attach(b, j);
}

static int b_begin(void *ud, int is_object, size_t index, int depth) {
  (void)index, (void)depth;
  builder_t *b = ud;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    json_t **s = realloc(b->stack, cap * sizeof *s);
    if (!s) return 1;
    b->stack = s;
    b->cap = cap;
  }
  json_t *j = is_object ? json_object() : json_array();
  if (attach(b, j) != 0) return 1;
  b->stack[b->n++] = j;
  return 0;
}

static int b_end(void *ud, int is_object, size_t count, int depth) {
  (void)is_object, (void)count, (void)depth;
  builder_t *b = ud;
  b->n--;
  return 0;
}

static int b_key(void *ud, const char *s, size_t n, int depth) {
  (void)depth;
  builder_t *b = ud;
  /* Kept NUL-terminated for jansson; the length says where it ends. */
  b->key->len = 0;
  if (mh_buf_put(b->key, s, n) != 0 || mh_buf_putc(b->key, 0) != 0) return 1;
  b->key->len = n;
  return 0;
}

static const mh_json_handler_t builder_handler = {b_scalar, b_begin, b_end, b_key};

/* The line as a new json_t, or NULL with err filled. */
static json_t *parse_line(mh_client_t *c, const char *s, size_t n, char *err, size_t errlen) {
  builder_t b;
  builder_init(c, &b);
  mh_json_error_t je;
  int rc = mh_json_parse(s, n, READ_MAX_DEPTH, &c->scratch, &builder_handler, &b, &je);
  builder_done(c, &b);
  if (rc == MH_JSON_OK) return b.root;
  json_decref(b.root);
  if (rc == MH_JSON_ABORTED || rc == MH_JSON_NOMEM) snprintf(err, errlen, "out of memory");
  else snprintf(err, errlen, "%s at byte %zu", je.msg, je.offset);
  return NULL;
}

/* ---- reading: the envelope fast path ---------------------------------------
 * Ordinary messages ({"k":"result","id":17,"args":[5]}, {"k":"msg","ch":"pong",
 * "args":[...]}) are read here straight from the line, as lconv.c's fast
 * path does for Lua: only the args array and its elements become json_t
 * values (containers inside it through the builder above, with the depth
 * the whole-line parse would give them), the envelope fields are read in
 * place. Strings go to the reader's own scanner when they are not plain,
 * numbers other than short integers to its number reader.
 * It only ever accepts: an unknown, escaped or repeated key, a kind other
 * than msg or result, a field of the wrong type, a channel that is not in
 * the line as it is, a msg the generic path would warn about, a syntax
 * error, ... make it give up, and the line is parsed again by parse_line
 * and handled by handle_message, so every error, its text and each unusual
 * case come from one place. Giving up leaves nothing observable. */

enum {
  FF_OTHER = 1u << MH_KEY_OTHER, FF_K = 1u << MH_KEY_K, FF_CH = 1u << MH_KEY_CH, FF_ID = 1u << MH_KEY_ID,
  FF_FRAME = 1u << MH_KEY_FRAME, FF_ERROR = 1u << MH_KEY_ERROR, FF_ARGS = 1u << MH_KEY_ARGS, FF_V = 1u << MH_KEY_V
};
enum { FK_MSG = 1, FK_RESULT = 2 };

typedef struct fast_msg {
  int kind;
  unsigned seen;     /* FF_ bits of the fields the line has */
  int64_t id, frame;
  const char *ch;    /* in the line (valid until a callback runs) */
  size_t chn;
  json_t *args;      /* new; NULL when the line has none */
} fast_msg_t;
/* A FF_ERROR text is in c->text, NUL-terminated. */

/* An empty array for a message's args: the one the last message left, or
 * a new one. NULL when out of memory. */
static json_t *take_args(mh_client_t *c) {
  json_t *a = c->spare_args;
  if (!a) return json_array();
  c->spare_args = NULL;
  return a;
}

/* Done with args handed to callbacks: kept for the next message when no
 * one else holds it (a callback may have kept it with json_incref). */
static void release_args(mh_client_t *c, json_t *a) {
  if (!a) return;
  size_t n;
  if (a->refcount == 1 && !c->spare_args && !c->closing && json_is_array(a) &&
      (n = json_array_size(a)) <= 64) {
    /* Integers only it holds are kept too, to be set to the next values. */
    for (size_t i = 0; i < n && c->nints < (int)(sizeof c->ints / sizeof c->ints[0]); i++) {
      json_t *v = json_array_get(a, i);
      if (json_is_integer(v) && v->refcount == 1) c->ints[c->nints++] = json_incref(v);
    }
    if (json_array_clear(a) == 0) {
      c->spare_args = a;
      return;
    }
  }
  json_decref(a);
}

/* A new integer: a kept one, or jansson's. */
static inline json_t *new_int(mh_client_t *c, int64_t i) {
  if (c->nints == 0) return json_integer((json_int_t)i);
  json_t *v = c->ints[--c->nints];
  json_integer_set(v, (json_int_t)i);
  return v;
}

/* One container argument at *pq, built as the whole-line parse would at
 * depth 3. The new value, or NULL on any failure. */
static json_t *fast_container(mh_client_t *c, const char *end, const char **pq) {
  builder_t b;
  builder_init(c, &b);
  size_t used = 0;
  int rc = mh_json_parse_prefix(*pq, (size_t)(end - *pq), READ_MAX_DEPTH - 2, &c->scratch,
                                &builder_handler, &b, NULL, &used);
  builder_done(c, &b);
  if (rc != MH_JSON_OK) {
    json_decref(b.root);
    return NULL;
  }
  *pq += used;
  return b.root;
}

/* Reads the elements of "args" from just past its '[' into a (empty). 0,
 * or -1. */
static int fast_args(mh_client_t *c, const char *end, const char **pq, json_t *a) {
  const char *q = *pq, *s;
  size_t sn;
  if (mh_wire_peek(&q, end) == ']') {
    *pq = q + 1;
    return 0;
  }
  for (;;) {
    json_t *v;
    char ch = mh_wire_peek(&q, end);
    if (ch == '"') {
      if (mh_wire_fast_string(&q, end, &c->scratch, &s, &sn) != 0) return -1;
      v = json_stringn_nocheck(sn ? s : "", sn);
    } else if (ch == '-' || mh_wire_is_digit(ch)) {
      mh_json_value_t n;
      if (mh_wire_fast_number(&q, end, &c->scratch, &n) != 0) return -1;
      v = n.type == MH_JSON_INTEGER ? new_int(c, n.i) : json_real(n.d);
    } else if (ch == '[' || ch == '{') {
      v = fast_container(c, end, &q);
    } else {
      int lit = mh_wire_fast_literal(&q, end);
      if (lit < 0) return -1;
      v = lit == MH_JSON_TRUE ? json_true() : lit == MH_JSON_FALSE ? json_false() : json_null();
    }
    if (!v || json_array_append_new(a, v) != 0) return -1;
    ch = mh_wire_peek(&q, end);
    if (ch == ',') {
      q++;
      continue;
    }
    if (ch == ']') {
      *pq = q + 1;
      return 0;
    }
    return -1;
  }
}

/* 1: the line is an ordinary msg or result, read into *m (the caller owns
 * m->args); 0: give up (nothing is left to free). */
static int fast_line(mh_client_t *c, const char *line, size_t n, fast_msg_t *m) {
  const char *q = line, *end = line + n, *s;
  size_t sn;
  m->kind = 0;
  m->seen = 0;
  m->id = 0;
  m->frame = 1;
  m->ch = NULL;
  m->chn = 0;
  m->args = NULL;
  unsigned f;
  /* The host starts results and messages with these two fields: skip
   * straight to the second one's value. */
  static const struct {
    const char *head;
    size_t n;
    int kind;
    unsigned field;
  } heads[] = {{MH_WIRE_RESULT_HEAD, sizeof MH_WIRE_RESULT_HEAD - 1, FK_RESULT, FF_ID},
               {MH_WIRE_HEAD("msg"), sizeof MH_WIRE_HEAD("msg") - 1, FK_MSG, FF_CH}};
  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
    if (n > heads[i].n && memcmp(line, heads[i].head, heads[i].n) == 0) {
      m->kind = heads[i].kind;
      f = heads[i].field;
      m->seen = FF_K | f;
      q = line + heads[i].n;
      goto value;
    }
  }
  if (mh_wire_peek(&q, end) != '{') return 0;
  q++;
  for (;;) {
    if (mh_wire_peek(&q, end) != '"') goto give_up;
    q++;
    f = 1u << mh_wire_key(&q, end);
    if (f == FF_OTHER || (m->seen & f)) goto give_up;  /* "cmd", unknown or repeated keys */
    m->seen |= f;
    if (mh_wire_peek(&q, end) != ':') goto give_up;
    q++;
    if (!mh_wire_peek(&q, end)) goto give_up;
  value:  /* q < end */
    switch (f) {
      case FF_K:
        if (*q != '"' || mh_wire_fast_string(&q, end, &c->scratch, &s, &sn) != 0) goto give_up;
        if (sn == 3 && memcmp(s, "msg", 3) == 0) m->kind = FK_MSG;
        else if (sn == 6 && memcmp(s, "result", 6) == 0) m->kind = FK_RESULT;
        else goto give_up;  /* hello, new kinds: the generic path's */
        break;
      case FF_CH:
        if (*q != '"' || mh_wire_fast_string(&q, end, &c->scratch, &s, &sn) != 0) goto give_up;
        /* Only a channel held in the line as it is (not in scratch, which
         * later strings reuse). */
        if (sn && (s < line || s >= end)) goto give_up;
        m->ch = sn ? s : "";
        m->chn = sn;
        break;
      case FF_ERROR:
        if (*q != '"' || mh_wire_fast_string(&q, end, &c->scratch, &s, &sn) != 0) goto give_up;
        c->text.len = 0;
        if (mh_buf_put(&c->text, s, sn) != 0 || mh_buf_putc(&c->text, 0) != 0) goto give_up;
        break;
      case FF_ID:
      case FF_FRAME:
      case FF_V: {
        int64_t i;
        if (mh_wire_fast_int(&q, end, &c->scratch, &i) != 0) goto give_up;
        if (f == FF_ID) m->id = i;
        else if (f == FF_FRAME) m->frame = i;
        break;
      }
      case FF_ARGS:
        if (*q != '[') goto give_up;
        q++;
        if (!(m->args = take_args(c)) || fast_args(c, end, &q, m->args) != 0) goto give_up;
        break;
    }
    char ch = mh_wire_peek(&q, end);
    if (ch == ',') {
      q++;
      continue;
    }
    if (ch == '}') {
      q++;
      break;
    }
    goto give_up;
  }
  if (mh_wire_peek(&q, end) || q != end || !m->kind) goto give_up;
  /* A msg the generic path would warn about is its to handle. */
  if (m->kind == FK_MSG && (!m->ch || m->frame < 1 || m->frame > INT32_MAX)) goto give_up;
  return 1;
give_up:
  release_args(c, m->args);
  m->args = NULL;
  return 0;
}

/* ---- writing: json_t -> JSON text ------------------------------------------ */

enum { PUT_OK = 0, PUT_NOMEM = -1, PUT_DEEP = -2 };


/* The start of each kind of line, through the "ch" key. */
#define HEAD_ARGS(kind) MH_WIRE_HEAD(kind), sizeof MH_WIRE_HEAD(kind) - 1

/* How deeply one argument may nest: the host's limit for a whole message
 * (MAINHOST_MAX_DEPTH, which it sets) less the message object and its args
 * array; MH_CLIENT_MAX_DEPTH without one. Read once. */
static int arg_depth_limit(void) {
  static int limit = -1;
  if (limit < 0) {
    int host = mh_wire_env_max_depth();
    limit = !host ? MH_CLIENT_MAX_DEPTH : host > 2 ? host - 2 : 0;
  }
  return limit;
}

/* depth: containers already open around v within its argument. */
static int put_value(mh_buf_t *b, json_t *v, int depth, int max_depth) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      if (depth >= max_depth) return PUT_DEEP;
      if (mh_buf_putc(b, '{')) return PUT_NOMEM;
      int first = 1;
      for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
        if (!first && mh_buf_putc(b, ',')) return PUT_NOMEM;
        first = 0;
        if (mh_wire_put_string(b, json_object_iter_key(it), json_object_iter_key_len(it)) ||
            mh_buf_putc(b, ':'))
          return PUT_NOMEM;
        int rc = put_value(b, json_object_iter_value(it), depth + 1, max_depth);
        if (rc) return rc;
      }
      return mh_buf_putc(b, '}') ? PUT_NOMEM : PUT_OK;
    }
    case JSON_ARRAY: {
      if (depth >= max_depth) return PUT_DEEP;
      if (mh_buf_putc(b, '[')) return PUT_NOMEM;
      for (size_t i = 0, n = json_array_size(v); i < n; i++) {
        if (i && mh_buf_putc(b, ',')) return PUT_NOMEM;
        int rc = put_value(b, json_array_get(v, i), depth + 1, max_depth);
        if (rc) return rc;
      }
      return mh_buf_putc(b, ']') ? PUT_NOMEM : PUT_OK;
    }
    case JSON_STRING:
      return mh_wire_put_string(b, json_string_value(v), json_string_length(v)) ? PUT_NOMEM : PUT_OK;
    case JSON_INTEGER:
      return mh_wire_put_integer(b, (int64_t)json_integer_value(v)) ? PUT_NOMEM : PUT_OK;
    case JSON_REAL:
      /* jansson holds no NaN or infinity, so a failure is memory. */
      return mh_wire_put_real(b, json_real_value(v)) ? PUT_NOMEM : PUT_OK;
    case JSON_TRUE: return mh_buf_put(b, "true", 4) ? PUT_NOMEM : PUT_OK;
    case JSON_FALSE: return mh_buf_put(b, "false", 5) ? PUT_NOMEM : PUT_OK;
    case JSON_NULL: return mh_buf_put(b, "null", 4) ? PUT_NOMEM : PUT_OK;
  }
  return PUT_OK;
}

/* Appends one whole message line to the channel's output. 0, or a negative
 * code with *why (static text or "args[I]: ...") for the sync forms. */
static int put_message(mh_client_t *c, const char *head, size_t headn, const char *ch, size_t chn,
                       int64_t id, int frame, json_t *args, char *why, size_t whylen) {
  if (args && !json_is_array(args)) {
    snprintf(why, whylen, "args must be an array");
    return UV_EINVAL;
  }
  mh_buf_t *b = c->ended || c->closing ? NULL : mh_chan_out(&c->chan);
  if (!b) {
    snprintf(why, whylen, "the host closed the channel");
    return UV_EPIPE;
  }
  size_t mark = b->len;
  int bad = mh_buf_put(b, head, headn) || mh_wire_put_string(b, ch, chn);
  if (!bad && id > 0) bad = mh_buf_put(b, ",\"id\":", 6) || mh_wire_put_integer(b, id);
  if (!bad && frame > 1) bad = mh_buf_put(b, ",\"frame\":", 9) || mh_wire_put_integer(b, frame);
  bad = bad || mh_buf_put(b, ",\"args\":[", 9);
  for (size_t i = 0, n = args ? json_array_size(args) : 0; !bad && i < n; i++) {
    if (i && mh_buf_putc(b, ',')) bad = 1;
    int rc = bad ? PUT_NOMEM : put_value(b, json_array_get(args, i), 0, arg_depth_limit());
    if (rc == PUT_DEEP) {
      b->len = mark;
      snprintf(why, whylen, "args[%zu]: nested too deeply to send (more than %d levels)", i,
               arg_depth_limit());
      return UV_EINVAL;
    }
    if (rc) bad = 1;
  }
  if (bad || mh_buf_put(b, "]}\n", 3)) {
    b->len = mark;
    snprintf(why, whylen, "out of memory");
    return UV_ENOMEM;
  }
  /* A renderer that sends in a loop without returning to the loop would
   * otherwise queue without bound: past the mark, write now and wait for
   * the host if it is behind (backpressure, as a blocking write would). */
  if (mh_chan_queued(&c->chan) >= HIGH_WATER) mh_chan_flush_blocking(&c->chan);
  return 0;
}

/* ---- listeners --------------------------------------------------------------- */

static void listener_release(listener_t *l) {
  if (--l->refs == 0) {
    free(l->ch);
    free(l);
  }
}

static void unlink_listener(mh_client_t *c, listener_t *l) {
  for (listener_t **pp = &c->listeners; *pp; pp = &(*pp)->next) {
    if (*pp == l) {
      *pp = l->next;
      l->linked = 0;
      listener_release(l);  /* the list's reference */
      return;
    }
  }
}

static int same_channel(const listener_t *l, const char *ch, size_t n) {
  return l->chn == n && memcmp(l->ch, ch, n) == 0;
}

static int add_listener(mh_client_t *c, const char *ch, mh_client_listener_cb cb, void *ud, int once) {
  if (!c || !ch || !cb) return UV_EINVAL;
  listener_t *l = calloc(1, sizeof *l);
  if (!l || !(l->ch = dup_str(ch))) {
    free(l);
    return UV_ENOMEM;
  }
  l->chn = strlen(ch);
  l->cb = cb;
  l->ud = ud;
  l->once = once;
  l->linked = 1;
  l->refs = 1;
  listener_t **pp = &c->listeners;
  while (*pp) pp = &(*pp)->next;
  *pp = l;
  return 0;
}

int mh_client_on(mh_client_t *c, const char *channel, mh_client_listener_cb cb, void *ud) {
  return add_listener(c, channel, cb, ud, 0);
}

int mh_client_once(mh_client_t *c, const char *channel, mh_client_listener_cb cb, void *ud) {
  return add_listener(c, channel, cb, ud, 1);
}

int mh_client_off(mh_client_t *c, const char *channel, mh_client_listener_cb cb, void *ud) {
  if (!c || !channel) return UV_EINVAL;
  listener_t *last = NULL;
  size_t n = strlen(channel);
  for (listener_t *l = c->listeners; l; l = l->next)
    if (l->cb == cb && l->ud == ud && same_channel(l, channel, n)) last = l;
  if (!last) return UV_ENOENT;
  unlink_listener(c, last);
  return 0;
}

void mh_client_remove_all_listeners(mh_client_t *c, const char *channel) {
  if (!c) return;
  size_t n = channel ? strlen(channel) : 0;
  listener_t **pp = &c->listeners;
  while (*pp) {
    listener_t *l = *pp;
    if (!channel || same_channel(l, channel, n)) {
      *pp = l->next;
      l->linked = 0;
      listener_release(l);
    } else {
      pp = &l->next;
    }
  }
}

size_t mh_client_listener_count(mh_client_t *c, const char *channel) {
  if (!c || !channel) return 0;
  size_t count = 0, n = strlen(channel);
  for (listener_t *l = c->listeners; l; l = l->next) count += same_channel(l, channel, n);
  return count;
}

/* Calls the listeners of ch as they stand now (Node's copy of the array):
 * each is held by a reference for the emit, so removing it meanwhile is
 * safe and it still runs, except a once listener that already ran. */
static void emit(mh_client_t *c, const char *ch, size_t chn, json_t *args, int frame) {
  listener_t *small[16], **snap = small;
  size_t n = 0;
  for (listener_t *l = c->listeners; l; l = l->next) n += same_channel(l, ch, chn);
  if (n == 0) return;
  if (n > sizeof small / sizeof small[0] && !(snap = malloc(n * sizeof *snap))) {
    /* ch may be a channel in the line read: not NUL-terminated. */
    client_warn("out of memory delivering a message on '%.*s'", (int)chn, ch);
    return;
  }
  size_t k = 0;
  for (listener_t *l = c->listeners; l; l = l->next)
    if (same_channel(l, ch, chn)) {
      l->refs++;
      snap[k++] = l;
    }
  for (size_t i = 0; i < n; i++) {
    listener_t *l = snap[i];
    if (c->closing) break;
    if (l->once) {
      if (l->fired) continue;
      l->fired = 1;
      if (l->linked) unlink_listener(c, l);
    }
    c->depth++;
    l->cb(c, l->ch, args, frame, l->ud);
    c->depth--;
  }
  for (size_t i = 0; i < n; i++) listener_release(snap[i]);
  if (snap != small) free(snap);
}

/* ---- pending invokes ------------------------------------------------------------- */

static pending_t *take_pending(mh_client_t *c, int64_t id) {
  for (pending_t **pp = &c->pending; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      pending_t *p = *pp;
      *pp = p->next;
      return p;
    }
  }
  return NULL;
}

/* Frees p, or keeps it for the next invoke. */
static void release_pending(mh_client_t *c, pending_t *p) {
  if (p->ch == p->small && !c->spare_pending && !c->closing) {
    c->spare_pending = p;
    return;
  }
  if (p->ch != p->small) free(p->ch);
  free(p);
}

static void finish_pending(mh_client_t *c, pending_t *p, json_t *result, const char *text) {
  c->depth++;
  if (text) {
    char *e = make_error("Error invoking remote method ", p->ch, text);
    p->cb(c, NULL, e ? e : "out of memory", p->ud);
    free(e);
  } else {
    p->cb(c, result, NULL, p->ud);
  }
  c->depth--;
  release_pending(c, p);
}

/* Every pending invoke ends with `text` (one at a time: a callback may
 * start new invokes, which fail at once since the channel is gone). */
static void fail_all_pending(mh_client_t *c, const char *text) {
  while (c->pending) {
    pending_t *p = c->pending;
    c->pending = p->next;
    finish_pending(c, p, NULL, text);
  }
}

/* ---- incoming messages ------------------------------------------------------------ */

/* Reads an optional integer field; -1 when it is there with another type. */
static int int_field(json_t *m, const char *name, int64_t *out) {
  json_t *v = json_object_get(m, name);
  if (!v) return 0;
  if (!json_is_integer(v)) return -1;
  *out = (int64_t)json_integer_value(v);
  return 1;
}

static void handle_message(mh_client_t *c, json_t *m) {
  const char *why = NULL;
  json_t *k = json_object_get(m, "k");
  json_t *args = json_object_get(m, "args");
  const char *kind = json_string_value(k);
  int64_t id = 0, frame = 1, v = MH_CLIENT_PROTOCOL_VERSION;
  if (!json_is_object(m)) why = "message is not a JSON object";
  else if (!k) {
    /* Node's own traffic ({"cmd":"NODE_..."}) has no kind: not for us. */
    if (!json_is_string(json_object_get(m, "cmd"))) why = "message has no \"k\" field";
    else return;
  } else if (!kind) why = "field \"k\" must be a string";
  else if (args && !json_is_array(args)) why = "field \"args\" must be an array";
  else if (int_field(m, "frame", &frame) < 0) why = "field \"frame\" must be an integer";
  else if (int_field(m, "id", &id) < 0) why = "field \"id\" must be an integer";
  else if (int_field(m, "v", &v) < 0) why = "field \"v\" must be an integer";
  if (why) {
    client_warn("ignored a message from the host: %s", why);
    return;
  }
  json_t *empty = NULL;
  if (!args) args = empty = json_array();
  if (!strcmp(kind, "msg")) {
    json_t *ch = json_object_get(m, "ch");
    if (!json_is_string(ch)) client_warn("ignored a message from the host: field \"ch\" must be a string");
    else if (frame < 1 || frame > INT32_MAX) client_warn("ignored a message from the host: bad frame");
    else if (args) emit(c, json_string_value(ch), json_string_length(ch), args, (int)frame);
  } else if (!strcmp(kind, "result")) {
    json_t *err = json_object_get(m, "error");
    pending_t *p = take_pending(c, id);
    if (p) {
      if (err && !json_is_string(err)) finish_pending(c, p, NULL, "the host sent a malformed result");
      else if (err) finish_pending(c, p, NULL, json_string_value(err));
      else finish_pending(c, p, args, NULL);
    }
  } else if (!strcmp(kind, "hello")) {
    if (v > MH_CLIENT_PROTOCOL_VERSION)
      client_warn("the host speaks protocol %" PRId64 ", this library %d", v, MH_CLIENT_PROTOCOL_VERSION);
  }
  /* Other kinds are skipped: new ones may appear (docs/protocol.md). */
  json_decref(empty);
}

/* A line fast_line read: handle_message's work for it. */
static void handle_fast(mh_client_t *c, fast_msg_t *m) {
  json_t *args = m->args;
  if (m->kind == FK_MSG) {
    if (!args) args = take_args(c);
    if (args) emit(c, m->ch, m->chn, args, (int)m->frame);
  } else {
    pending_t *p = take_pending(c, m->id);
    if (p && (m->seen & FF_ERROR)) finish_pending(c, p, NULL, c->text.data);
    else if (p) {
      if (!args) args = take_args(c);
      finish_pending(c, p, args, NULL);
    }
  }
  release_args(c, args);
}

static void on_line(mh_chan_t *ch, const char *line, size_t n) {
  mh_client_t *c = ch->data;
  if (n == 0 || c->closing) return;
  char err[128];
  /* The line is only borrowed: a listener that blocks (sendSync) reads more
   * into the same buffers, so it is all decoded before anything runs (the
   * fast path's channel is in the line: emit reads it before it calls). */
  fast_msg_t fm;
  if (fast_line(c, line, n, &fm)) {
    handle_fast(c, &fm);
    return;
  }
  json_t *m = parse_line(c, line, n, err, sizeof err);
  if (!m) {
    client_warn("ignored a message from the host: %s", err);
    return;
  }
  handle_message(c, m);
  json_decref(m);
}

static void on_end(mh_chan_t *ch, int status) {
  mh_client_t *c = ch->data;
  if (c->ended) return;
  c->ended = 1;
  /* The host quitting may reset rather than close the socket, when our
   * last bytes were still unread: both are an orderly end for us. */
  c->end_status = (status == 0 || status == UV_ECONNRESET || status == UV_EPIPE) ? 0 : status;
  fail_all_pending(c, "the host closed the channel");
  /* Only a uv_run of ours is stopped: a stop flag left set would make the
   * next uv_run of whoever turns the loop return at once. */
  if (c->in_uv_run) uv_stop(c->loop);
}

static void on_redispatch(uv_idle_t *h) {
  mh_client_t *c = h->data;
  uv_idle_stop(h);
  mh_chan_dispatch(&c->chan);
}

/* ---- blocking requests ---------------------------------------------------------------- */

typedef struct wait_ctx {
  mh_client_t *c;
  char prefix[64];
  size_t plen;
  json_t *msg;     /* the result line, decoded */
  char err[128];   /* or why it could not be */
  int fast;        /* read by fast_line instead: */
  int has_error;   /* its error text is in c->text */
  json_t *args;    /* or its args (new; NULL when it had none) */
} wait_ctx_t;

static int wait_match(void *ud, const char *l, size_t n) {
  wait_ctx_t *w = ud;
  return mh_wire_is_result(l, n, w->prefix, w->plen);
}

static void wait_got(void *ud, const char *l, size_t n) {
  wait_ctx_t *w = ud;
  fast_msg_t m;
  /* wait_match saw this id's result head, and fast_line refuses a second
   * "k": what it reads here is that result. */
  if (fast_line(w->c, l, n, &m)) {
    w->fast = 1;
    w->has_error = (m.seen & FF_ERROR) != 0;
    w->args = m.args;
    return;
  }
  w->msg = parse_line(w->c, l, n, w->err, sizeof w->err);
}

/* Sends a request and blocks for its result line. Returns the args (new)
 * or NULL with *error set; prefix names the call in errors. */
static json_t *request_sync(mh_client_t *c, const char *head, size_t headn, const char *prefix,
                            const char *ch, json_t *args, int frame, int whole, char **error) {
  if (error) *error = NULL;
  char why[160];
  int64_t id = ++c->next_id;
  int rc = put_message(c, head, headn, ch, strlen(ch), id, frame, args, why, sizeof why);
  if (rc == UV_EPIPE) {
    set_error(error, make_error(prefix, ch, why));
    return NULL;
  }
  if (rc) {
    set_error(error, dup_str(why));
    return NULL;
  }
  wait_ctx_t w;
  w.c = c;
  w.plen = mh_wire_result_head(w.prefix, sizeof w.prefix, id);
  w.msg = NULL;
  w.err[0] = 0;
  w.fast = w.has_error = 0;
  w.args = NULL;
  rc = mh_chan_flush_blocking(&c->chan);
  if (rc == 0) rc = mh_chan_wait(&c->chan, wait_match, wait_got, &w);
  /* Lines that came meanwhile go out when the loop runs next (at once if
   * this call came from a listener: the dispatch under it goes on). */
  if (!c->closing) uv_idle_start(&c->redispatch, on_redispatch);
  json_t *res = NULL, *a = NULL;  /* a: the result's args (or NULL: none) */
  const char *text = NULL;
  if (rc != 0) {
    text = "the host closed the channel";
    /* With lines held back, the channel reports the end after them. */
    if (!c->ended && !c->chan.end_later) on_end(&c->chan, rc);
  } else if (w.fast) {
    if (w.has_error) text = c->text.data;
    else a = w.args;
  } else if (!w.msg) {
    text = w.err;
  } else {
    json_t *e = json_object_get(w.msg, "error");
    a = json_object_get(w.msg, "args");
    if (e) text = json_is_string(e) ? json_string_value(e) : "the host sent a malformed result";
    else if (a && !json_is_array(a)) text = "the host sent a malformed result";
  }
  if (!text) {
    /* All the values (invoke), or the first (sendSync). */
    if (whole) res = a ? json_incref(a) : json_array();
    else res = json_array_size(a) ? json_incref(json_array_get(a, 0)) : json_null();
    if (!res) text = "out of memory";
  }
  if (text) {
    char *s = make_error(prefix, ch, text);
    set_error(error, s ? s : dup_str("out of memory"));
  }
  json_decref(w.msg);
  json_decref(w.args);
  return res;
}

/* The sync forms' answer to a NULL client or channel. */
static json_t *bad_sync_args(char **error) {
  if (error) *error = dup_str("invalid argument: a NULL client or channel");
  return NULL;
}

json_t *mh_client_send_sync(mh_client_t *c, const char *channel, json_t *args, int frame, char **error) {
  if (!c || !channel) return bad_sync_args(error);
  return request_sync(c, HEAD_ARGS("sync"), "Error in sendSync for ", channel, args, frame, 0, error);
}

json_t *mh_client_invoke_sync(mh_client_t *c, const char *channel, json_t *args, int frame, char **error) {
  if (!c || !channel) return bad_sync_args(error);
  return request_sync(c, HEAD_ARGS("invoke"), "Error invoking remote method ", channel, args, frame, 1, error);
}

/* ---- the rest of the API ------------------------------------------------------------ */

int mh_client_send(mh_client_t *c, const char *channel, json_t *args, int frame) {
  char why[160];
  if (!c || !channel) return UV_EINVAL;
  return put_message(c, HEAD_ARGS("send"), channel, strlen(channel), 0, frame, args, why, sizeof why);
}

int mh_client_invoke(mh_client_t *c, const char *channel, json_t *args, int frame,
                     mh_client_invoke_cb cb, void *ud) {
  if (!c || !channel || !cb) return UV_EINVAL;
  pending_t *p = c->spare_pending;
  if (p) c->spare_pending = NULL;
  else if (!(p = malloc(sizeof *p))) return UV_ENOMEM;
  size_t chn = strlen(channel);
  if (chn < sizeof p->small) {
    p->ch = p->small;
  } else if (!(p->ch = malloc(chn + 1))) {
    free(p);
    return UV_ENOMEM;
  }
  memcpy(p->ch, channel, chn + 1);
  p->next = NULL;
  char why[160];
  p->id = ++c->next_id;
  int rc = put_message(c, HEAD_ARGS("invoke"), channel, chn, p->id, frame, args, why, sizeof why);
  if (rc) {
    release_pending(c, p);
    return rc;
  }
  p->cb = cb;
  p->ud = ud;
  /* In request order, so that they fail in that order too. */
  pending_t **pp = &c->pending;
  while (*pp) pp = &(*pp)->next;
  *pp = p;
  return 0;
}

int mh_client_hello(mh_client_t *c) {
  if (!c) return UV_EINVAL;
  mh_buf_t *b = c->ended || c->closing ? NULL : mh_chan_out(&c->chan);
  if (!b) return UV_EPIPE;
  char hello[96];
  int n = snprintf(hello, sizeof hello, "{\"k\":\"hello\",\"v\":%d,\"pid\":%d}\n",
                   MH_CLIENT_PROTOCOL_VERSION, (int)getpid());
  return mh_buf_put(b, hello, (size_t)n) ? UV_ENOMEM : 0;
}

uv_loop_t *mh_client_loop(mh_client_t *c) { return c ? c->loop : NULL; }

/* Closed as soon as the end is known, even while lines that came before it
 * still wait to be delivered. */
int mh_client_is_closed(const mh_client_t *c) { return !c || c->ended || c->closing || c->chan.end_later; }

int mh_client_flush(mh_client_t *c) {
  if (!c) return UV_EINVAL;
  if (c->ended || c->closing) return UV_EPIPE;
  return mh_chan_flush_blocking(&c->chan);
}

int mh_client_run(mh_client_t *c) {
  if (!c) return UV_EINVAL;
  if (c->in_run) return UV_EBUSY;
  if (c->closing) return UV_EINVAL;
  c->in_run = 1;
  c->stopping = 0;
  mh_chan_dispatch(&c->chan);  /* what a blocking call held back */
  /* Only here do we know how the loop is run: a caller's own uv_run
   * (NOWAIT, say) must never find us blocked in recv(). */
  if (c->chan.blocking) mh_chan_group_set_waiter(&c->group, &c->chan);
  while (!c->ended && !c->stopping) {
    c->in_uv_run = 1;
    int alive = uv_run(c->loop, UV_RUN_DEFAULT);
    c->in_uv_run = 0;
    if (alive == 0) break;
  }
  mh_chan_group_set_waiter(&c->group, NULL);
  if (!c->stopping) mh_chan_dispatch(&c->chan);  /* lines that came with the end */
  c->in_run = 0;
  return c->end_status;
}

void mh_client_stop(mh_client_t *c) {
  if (!c || !c->in_run) return;
  c->stopping = 1;
  if (c->in_uv_run) uv_stop(c->loop);
}

static void handle_closed(mh_client_t *c) {
  if (--c->open_handles == 0 && !c->owns_loop) free(c);
}

static void on_idle_closed(uv_handle_t *h) { handle_closed(h->data); }

/* The prepare handle's data is its group (mh_chan's), so find the client
 * from the handle's place in it. */
static void on_prepare_closed(uv_handle_t *h) {
  handle_closed((mh_client_t *)((char *)h - offsetof(mh_client_t, group.prepare)));
}

static void on_chan_closed(mh_chan_t *ch) { handle_closed(ch->data); }

/* Releases what mh_client_close or a failed open leaves: with our own loop
 * now, with the caller's from the last close callback. */
static void finish_close(mh_client_t *c) {
  if (!c->owns_loop) return;
  uv_run(c->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(c->loop) != 0) {
    /* The caller left handles open on our loop: keep the memory rather
     * than free a loop libuv still points into. */
    fprintf(stderr, "mh_client_close: handles are still open on the client's loop\n");
    return;
  }
  free(c);
}

int mh_client_open(uv_loop_t *loop, int fd, mh_client_t **out) {
  if (!out) return UV_EINVAL;
  *out = NULL;
  /* Our children must not hold the host's socket. (Its blocking mode is
   * set below, once it is ours: only the waits block.) */
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    int rc = -errno;
    close(fd);
    return rc;
  }
  mh_client_t *c = calloc(1, sizeof *c);
  int rc = c ? 0 : UV_ENOMEM;
  if (c && !loop) {
    rc = uv_loop_init(&c->own_loop);
    c->owns_loop = rc == 0;
    loop = &c->own_loop;
  }
  if (rc) {
    free(c);
    close(fd);
    return rc;
  }
  c->loop = loop;
  c->chan.data = c;
  c->redispatch.data = c;
  if ((rc = mh_chan_group_init(&c->group, loop)) != 0) {
    close(fd);
    if (c->owns_loop) uv_loop_close(loop);
    free(c);
    return rc;
  }
  uv_idle_init(loop, &c->redispatch);
  c->open_handles = 2;
  if ((rc = mh_chan_open(&c->chan, &c->group, fd, 0, on_line, on_end)) != 0) {
    close(fd);
    c->closing = 1;
    uv_close((uv_handle_t *)&c->redispatch, on_idle_closed);
    uv_close((uv_handle_t *)&c->group.prepare, on_prepare_closed);
    finish_close(c);
    return rc;
  }
  c->open_handles = 3;
  /* Our reads and writes pass MSG_DONTWAIT; only the waits block (a
   * blocking call's, and mh_client_run's when nothing else is active). */
  mh_chan_set_blocking(&c->chan);
  mh_chan_set_spin(&c->chan, mh_chan_env_spin_us());
  *out = c;
  return 0;
}

int mh_client_connect(uv_loop_t *loop, mh_client_t **out) {
  if (!out) return UV_EINVAL;
  *out = NULL;
  const char *s = getenv("MAINHOST_IPC_FD");
  if (!s || !*s) return UV_ENOENT;
  char *end;
  errno = 0;
  long fd = strtol(s, &end, 10);
  if (*end || errno || fd < 0 || fd > INT32_MAX) return UV_EBADF;
  struct stat st;
  if (fstat((int)fd, &st) != 0) return UV_EBADF;
  if (!S_ISSOCK(st.st_mode)) return UV_ENOTSOCK;
  return mh_client_open(loop, (int)fd, out);
}

void mh_client_close(mh_client_t *c) {
  if (!c || c->closing) return;
  if (c->in_run || c->depth) {
    /* The code under us still uses the client: a programmer error. */
    fprintf(stderr, "mh_client_close called from %s; call mh_client_stop there and close "
                    "after mh_client_run returns\n", c->in_run ? "inside mh_client_run" : "a client callback");
    abort();
  }
  if (!c->ended) mh_chan_flush_blocking(&c->chan);
  c->closing = 1;
  fail_all_pending(c, "the client was closed");
  mh_client_remove_all_listeners(c, NULL);
  mh_buf_free(&c->scratch);
  mh_buf_free(&c->key);
  mh_buf_free(&c->text);
  free(c->stack);
  c->stack = NULL;
  c->stack_cap = 0;
  json_decref(c->spare_args);
  c->spare_args = NULL;
  while (c->nints) json_decref(c->ints[--c->nints]);
  free(c->spare_pending);
  c->spare_pending = NULL;
  mh_chan_close(&c->chan, on_chan_closed);
  uv_close((uv_handle_t *)&c->redispatch, on_idle_closed);
  /* Closed here rather than by mh_chan_group_close, to learn when. */
  uv_close((uv_handle_t *)&c->group.prepare, on_prepare_closed);
  finish_close(c);
}
