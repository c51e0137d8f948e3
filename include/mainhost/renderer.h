/* mainhost/renderer.h: libmainhost-renderer, the client library for mainhost
 * renderers written in C. It speaks the wire protocol of docs/protocol.md on
 * the socket the host hands a renderer (MAINHOST_IPC_FD), over libuv, with
 * values as jansson json_t. Link with `pkg-config --cflags --libs
 * mainhost-renderer`.
 *
 * A minimal renderer:
 *
 *     static void on_pong(mh_client_t *c, const char *ch, json_t *args,
 *                         int frame, void *ud) {
 *       printf("got %s\n", json_string_value(json_array_get(args, 0)));
 *     }
 *
 *     int main(void) {
 *       mh_client_t *c;
 *       int rc = mh_client_connect(NULL, &c);
 *       if (rc < 0) { fprintf(stderr, "%s\n", uv_strerror(rc)); return 1; }
 *       mh_client_on(c, "pong", on_pong, NULL);
 *       mh_client_hello(c);
 *       json_t *args = json_pack("[s]", "hello");
 *       mh_client_send(c, "ping", args, 0);
 *       json_decref(args);
 *       mh_client_run(c);      // until the host closes the channel
 *       mh_client_close(c);
 *       return 0;
 *     }
 *
 * Conventions (the same for every function):
 * - Errors: functions returning int give 0 or a negative libuv error code
 *   (UV_EINVAL, UV_EPIPE, ...; uv_strerror() names it). Functions returning
 *   json_t * give a new reference, or NULL with an error text in *error.
 * - References follow jansson's words. "new": the caller owns it and
 *   json_decref()s it. "borrowed": valid for the call (or the callback)
 *   only; json_incref() it to keep it. No function here steals a reference
 *   you pass: `args` is always borrowed, so pass json_pack(...) through a
 *   variable and json_decref() it after the call.
 * - `args` is a JSON array of the arguments, or NULL for none. A NULL
 *   client or channel is refused (UV_EINVAL, or for the blocking calls the
 *   error "invalid argument: a NULL client or channel"), never followed.
 * - Writes block when more than 1 MiB is queued and the host is behind;
 *   while they wait, what the host sends is read and kept, to be delivered
 *   from the loop (so a host waiting for us to read never waits for ever).
 * - Strings are byte strings. Received strings are built with
 *   json_stringn_nocheck(): they may hold bytes that are not UTF-8 and NUL
 *   bytes, so read them with json_string_value() and json_string_length().
 *   Strings you send may hold any bytes too (make them with
 *   json_stringn_nocheck()); bytes that are not UTF-8 travel as \udcXX
 *   escapes and reach a Lua main script unchanged. Integers and reals stay
 *   apart both ways (JSON_INTEGER vs JSON_REAL).
 * - `frame`: the frame a message comes from; 0 or 1 is the main frame.
 * - Channel names are NUL-terminated strings (any other bytes allowed).
 * - One thread: every call on a client, and its callbacks, on the thread
 *   that runs its loop.
 */
#ifndef MAINHOST_RENDERER_H
#define MAINHOST_RENDERER_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(MH_CLIENT_BUILDING)
#define MH_CLIENT_API __attribute__((visibility("default")))
#else
#define MH_CLIENT_API
#endif

/* The wire protocol version this library speaks. */
#define MH_CLIENT_PROTOCOL_VERSION 1
/* The most levels of arrays and objects one argument may nest with the
 * host's default limits: the host reads at most 200 levels per line
 * (limits.maxDepth), and the message object and its args array take two.
 * The client follows the host's own limit, which the host passes in
 * MAINHOST_MAX_DEPTH (maxDepth - 2 levels), and uses this one without it.
 * Deeper values are refused before anything is sent. */
#define MH_CLIENT_MAX_DEPTH 198

typedef struct mh_client mh_client_t;

/* A listener: `args` (borrowed) is the array of arguments of a message the
 * host sent on `channel` (borrowed) to `frame` (1 for the main frame). */
typedef void (*mh_client_listener_cb)(mh_client_t *c, const char *channel, json_t *args,
                                      int frame, void *ud);

/* The end of an invoke. On success `result` (borrowed) is the array of the
 * values the handler returned (Electron's value is element 0) and `error`
 * is NULL. On failure `result` is NULL and `error` (borrowed) reads
 * "Error invoking remote method 'CH': TEXT". Called exactly once. */
typedef void (*mh_client_invoke_cb)(mh_client_t *c, json_t *result, const char *error, void *ud);

/* ---- connecting --------------------------------------------------------- */

/* Opens the channel on the fd named by MAINHOST_IPC_FD (set by the host),
 * marks it close-on-exec so that programs this renderer starts do not hold
 * the host's socket, and makes *out a new client. `loop`: the caller's
 * libuv loop, or NULL for one the client owns (see mh_client_loop). Call
 * once per process. Returns 0, or:
 *   UV_ENOENT    MAINHOST_IPC_FD is not set (not started by mainhost)
 *   UV_EBADF     it is not a number or not an open descriptor
 *   UV_ENOTSOCK  the descriptor is not a socket
 *   UV_ENOMEM, or what libuv reports. */
MH_CLIENT_API int mh_client_connect(uv_loop_t *loop, mh_client_t **out);

/* The same on a connected stream socket `fd`, which the client takes over
 * (it closes it on mh_client_close, also when this call fails). */
MH_CLIENT_API int mh_client_open(uv_loop_t *loop, int fd, mh_client_t **out);

/* The loop the client runs on (the caller's, or its own). Add timers and
 * other handles to it freely; close them before mh_client_close. */
MH_CLIENT_API uv_loop_t *mh_client_loop(mh_client_t *c);

/* Says hello ({"k":"hello","v":1,"pid":N}): the main script sees
 * did-finish-load. Say it once, when listeners are set up; without it the
 * host takes the first message of any kind as the hello. 0 or UV_EPIPE. */
MH_CLIENT_API int mh_client_hello(mh_client_t *c);

/* ---- messages ------------------------------------------------------------ */

/* ipcRenderer.send: queues a message; it is written when the loop runs
 * next (or at once when over 1 MiB is queued, waiting for the host if it
 * is behind). `args` borrowed. 0; UV_EINVAL when args is not an array or
 * nests deeper than the host accepts (see MH_CLIENT_MAX_DEPTH; nothing is
 * sent); UV_EPIPE when
 * the channel has closed; UV_ENOMEM. */
MH_CLIENT_API int mh_client_send(mh_client_t *c, const char *channel, json_t *args, int frame);

/* ipcRenderer.sendSync: sends and blocks (outside the loop) until the main
 * script sets event.returnValue. Messages and invoke results that arrive
 * meanwhile are kept and delivered afterwards, from the loop, in order; if
 * the host closes the channel during the wait, they are delivered first
 * and the end (pending invokes failing, mh_client_run returning) after. Returns the value (new; JSON null is
 * json_null(), never NULL). On failure returns NULL and, if error is not
 * NULL, sets *error to a malloc'd text the caller free()s:
 *   "Error in sendSync for 'CH': TEXT"   the host answered with an error
 *   "Error in sendSync for 'CH': the host closed the channel"
 *   "args must be an array" / "args[I]: nested too deeply to send"
 * May be called from listeners and callbacks. */
MH_CLIENT_API json_t *mh_client_send_sync(mh_client_t *c, const char *channel, json_t *args,
                                          int frame, char **error);

/* ipcRenderer.invoke, asynchronous: sends and returns; cb runs on the loop
 * when the result arrives, or with an error when the channel closes or
 * the client is closed first ("... the host closed the channel", "... the
 * client was closed"). Returns 0 (cb will run once) or a negative code as
 * for mh_client_send (cb will not run). `args` borrowed. */
MH_CLIENT_API int mh_client_invoke(mh_client_t *c, const char *channel, json_t *args, int frame,
                                   mh_client_invoke_cb cb, void *ud);

/* ipcRenderer.invoke, blocking like mh_client_send_sync. Returns the array
 * of the handler's return values (new; Electron's value is element 0), or
 * NULL with *error set (malloc'd, free() it) to
 * "Error invoking remote method 'CH': TEXT" (TEXT from the host, e.g.
 * "Error: boom", or "the host closed the channel"), or to an argument
 * error as for mh_client_send_sync. */
MH_CLIENT_API json_t *mh_client_invoke_sync(mh_client_t *c, const char *channel, json_t *args,
                                            int frame, char **error);

/* ---- listeners (Node EventEmitter rules) ------------------------------- */

/* Adds a listener for messages the host sends on `channel` (copied), from
 * every frame. Listeners run in the order they were added; adding the same
 * (cb, ud) twice makes it run twice. A listener removed while a message is
 * being delivered still gets that message; one added meanwhile does not.
 * 0 or UV_ENOMEM. */
MH_CLIENT_API int mh_client_on(mh_client_t *c, const char *channel, mh_client_listener_cb cb,
                               void *ud);
/* The same, for the next message only: it is removed just before it runs. */
MH_CLIENT_API int mh_client_once(mh_client_t *c, const char *channel, mh_client_listener_cb cb,
                                 void *ud);
/* Removes the most recently added listener with this channel, cb and ud
 * (on or once). 0, or UV_ENOENT when there is none. */
MH_CLIENT_API int mh_client_off(mh_client_t *c, const char *channel, mh_client_listener_cb cb,
                                void *ud);
/* Removes every listener of `channel`, or of all channels when NULL. */
MH_CLIENT_API void mh_client_remove_all_listeners(mh_client_t *c, const char *channel);
/* How many listeners `channel` has. */
MH_CLIENT_API size_t mh_client_listener_count(mh_client_t *c, const char *channel);

/* ---- running and closing --------------------------------------------------- */

/* Runs the loop until the host closes the channel (it quits, or the main
 * script closed this webContents) or mh_client_stop is called. Returns 0
 * then, a negative code if the channel failed otherwise, or UV_EBUSY when
 * it is already running. A renderer exits 0 after its channel closed.
 * While nothing else on the loop is active (no other handle, timer,
 * request, idle, pending or closing callback), it waits for the host in a
 * blocking recv() on the socket rather than in the loop's epoll_wait: one
 * syscall, and a quicker wake-up. Only mh_client_run does this: a program
 * that turns the loop itself (uv_run, even UV_RUN_NOWAIT) is never blocked
 * by the client, but a uv_run called from a callback inside mh_client_run
 * (which libuv does not support) may be. For this the socket is in
 * blocking mode once the client has it (every read and write of the
 * client's passes MSG_DONTWAIT); a descriptor dup'ed from it shares that
 * mode. A wait that follows a request (an invoke here, or a blocking call)
 * first polls the socket without sleeping for up to MAINHOST_SPIN_US
 * microseconds (50 by default; 0 turns it off), yielding between tries
 * and stopping when another task wants the CPU, and backs off after spins
 * that got nothing (docs/api.md, "How a renderer waits"). */
MH_CLIENT_API int mh_client_run(mh_client_t *c);

/* Makes mh_client_run return once the current callback is done and the
 * lines already read in that batch are delivered (they are not held for a
 * later run). */
MH_CLIENT_API void mh_client_stop(mh_client_t *c);

/* Blocks until everything queued is written. 0, or UV_EPIPE. */
MH_CLIENT_API int mh_client_flush(mh_client_t *c);

/* Non-zero once the channel has closed (sends fail with UV_EPIPE). */
MH_CLIENT_API int mh_client_is_closed(const mh_client_t *c);

/* Writes what is queued (blocking), fails pending invokes (their callbacks
 * run now, with an error), drops the listeners and closes the socket. With
 * the client's own loop everything is released before it returns. With
 * the caller's loop the memory is released by a close callback: run the
 * loop once more (uv_run(loop, UV_RUN_NOWAIT)) before uv_loop_close.
 * Calling it while mh_client_run runs or from one of the client's own
 * callbacks (listeners, invoke callbacks) is a programmer error and aborts:
 * call mh_client_stop there, and mh_client_close once mh_client_run has
 * returned. With the client's own loop, do not call it from a callback of
 * a handle of yours on that loop either (a timer, say) while you turn the
 * loop yourself: it runs and frees the loop under your uv_run. Stop the
 * loop there (uv_stop) and close after uv_run returns. c is invalid
 * afterwards. */
MH_CLIENT_API void mh_client_close(mh_client_t *c);

#ifdef __cplusplus
}
#endif

#endif
