/* lconv.h: Lua values to and from the wire's JSON, without intermediate
 * trees: decoding pushes Lua values straight from the reader's callbacks,
 * encoding walks Lua tables straight into a byte buffer. */
#ifndef MH_LCONV_H
#define MH_LCONV_H

#include <lua.h>

#include "mh_wire.h"

/* Message kinds (the "k" field). */
enum {
  MH_K_UNKNOWN = 0,
  MH_K_HELLO,   /* both directions: handshake */
  MH_K_SEND,    /* renderer -> host: ipcRenderer.send */
  MH_K_SYNC,    /* renderer -> host: ipcRenderer.sendSync */
  MH_K_INVOKE,  /* renderer -> host: ipcRenderer.invoke */
  MH_K_MSG,     /* host -> renderer: webContents.send / event.reply */
  MH_K_RESULT,  /* host -> renderer: the reply to an invoke or sendSync */
  MH_K_IGNORED  /* a Node internal message ({"cmd": "NODE_..."}) */
};

/* The envelope of one decoded message; its values are on the Lua stack. */
typedef struct mh_msg {
  int kind;
  int has_id, has_frame, has_args, has_bad_kind;
  int64_t id;
  int64_t frame;
  int64_t version;  /* hello's "v" */
  int nargs;        /* values pushed after the two fixed slots */
} mh_msg_t;

/* The sentinel that stands for JSON null where nil cannot (object values). */
#define MH_NULL_NAME "mainhost.null"
void mh_lconv_push_null(lua_State *L);

/* Decodes one message line. On success (0) pushes 2 + m->nargs values:
 * the channel (string or nil), the error text (string or nil), then the
 * arguments ("args" elements in order; JSON null there is nil). On failure
 * (-1) pushes nothing and writes the reason into err.
 * [-0, +(2+nargs)|0, m] */
int mh_lconv_decode_msg(lua_State *L, const char *line, size_t n,
                        mh_buf_t *scratch, int max_depth, mh_msg_t *m,
                        char *err, size_t errlen);

/* Decodes a message line and pushes kind (a string: "hello", "msg",
 * "result", "send", "sync", "invoke"), id (or nil), frame (or nil), ch (or
 * nil), error (or nil), args... Returns how many values it pushed, or -1
 * with nothing pushed (err says why; empty for a Node internal message).
 * [-0, +(5+nargs)|0, m] */
int mh_lconv_push_envelope(lua_State *L, const char *line, size_t n,
                           mh_buf_t *scratch, int max_depth, char *err,
                           size_t errlen);

/* Decodes one JSON text into a single Lua value. [-0, +1|0, m] */
int mh_lconv_decode_value(lua_State *L, const char *s, size_t n,
                          mh_buf_t *scratch, int max_depth, char *err,
                          size_t errlen);

/* Appends the values at stack indexes first..last as JSON array elements
 * (no brackets; comma-separated). On failure returns -1 with a message
 * naming the argument (`what` is "argument" or "return value") and the path inside it, e.g.
 * "argument 2 .items[3]: function cannot be sent"; `argbase` is added to
 * the position to number arguments as the user sees them. The buffer may
 * hold a partial write then: the caller truncates. [-0, +0, m] */
int mh_lconv_encode_args(lua_State *L, int first, int last, int argbase,
                         const char *what, mh_buf_t *b, int max_depth,
                         char *err, size_t errlen);

/* Appends one value as JSON (same rules, the error path starts "value"). */
int mh_lconv_encode_value(lua_State *L, int idx, mh_buf_t *b, int max_depth,
                          char *err, size_t errlen);

/* Lua functions: mainhost.json.encode / decode (for tests and users). */
int mh_lconv_l_encode(lua_State *L);
int mh_lconv_l_decode(lua_State *L);
/* The module "mainhost.json": { encode, decode, null }. */
int mh_lconv_open_json(lua_State *L);

#endif
