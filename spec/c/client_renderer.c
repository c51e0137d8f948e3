/* client_renderer.c: a renderer built on libmainhost-renderer for
 * spec/09-c-client_spec.lua. `client_renderer SCENARIO` plays one scenario
 * against the spec's main script and prints what it gets, one line per
 * fact ("c: ..."), with values shown exactly (types and bytes). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mainhost/renderer.h>

#include "json_show.h"

static mh_client_t *C;

static void say(const char *what, json_t *v) {
  printf("c: %s ", what);
  show(stdout, v);
  putchar('\n');
}

/* Prints the result of a blocking call and releases it, or the error
 * (read through the pointer: after the call has set it). */
static void say_result(const char *what, json_t *v, char **error) {
  if (v) {
    say(what, v);
    json_decref(v);
  } else {
    printf("c: %s error: %s\n", what, *error);
    free(*error);
  }
}

static void send_done(void) {
  if (mh_client_send(C, "done", NULL, 0) != 0) printf("c: cannot send done\n");
}

/* A listener that prints its channel, frame and arguments. */
static void print_listener(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)c;
  printf("c: %s ", ud ? (const char *)ud : "got");
  show_bytes(stdout, ch, strlen(ch));
  printf(" frame %d ", frame);
  show(stdout, args);
  putchar('\n');
}

static void print_then_done(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  print_listener(c, ch, args, frame, ud);
  send_done();
}

/* ---- bytes: non-UTF-8 strings and keys both ways, channel names too ------- */

static void bytes_then_done(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  print_listener(c, ch, args, frame, ud);
  /* A blocking call from inside a listener. */
  json_t *a = json_pack("[o]", json_stringn_nocheck("\xed\xa0\x80", 3));
  char *error;
  say_result("echo of a WTF-8 surrogate", mh_client_send_sync(c, "echo", a, 0, &error), &error);
  json_decref(a);
  send_done();
}

static void scenario_bytes(void) {
  static const char raw[] = "\xff\xfe" "A\xc3\xa9" "\0" "z\x80";
  json_t *obj = json_object();
  json_object_setn_new_nocheck(obj, "k\x80", 2, json_stringn_nocheck("\xc3", 1));
  json_t *args = json_pack("[oo]", json_stringn_nocheck(raw, sizeof raw - 1), obj);
  char *error;

  json_t *back = mh_client_send_sync(C, "echo", args, 0, &error);
  if (back) {
    printf("c: sendSync echo equal: %s\n", json_equal(back, args) ? "yes" : "no");
    json_decref(back);
  } else {
    printf("c: sendSync echo error: %s\n", error);
    free(error);
  }
  back = mh_client_invoke_sync(C, "echo-invoke", args, 0, &error);
  if (back) {
    printf("c: invoke echo equal: %s\n", json_equal(back, args) ? "yes" : "no");
    say("invoke echo", back);
    json_decref(back);
  } else {
    printf("c: invoke echo error: %s\n", error);
    free(error);
  }
  json_decref(args);

  mh_client_once(C, "bytes", bytes_then_done, "bytes");
  json_t *one = json_pack("[o]", json_stringn_nocheck("\xfe", 1));
  mh_client_send(C, "ch\xff", one, 0);
  json_decref(one);
}

/* ---- numbers: integers and reals keep their types ---------------------------- */

static void scenario_numbers(void) {
  json_t *args = json_pack("[IfffIIfff]", (json_int_t)1, 1.0, -0.0, 2.5, (json_int_t)INT64_MAX,
                           (json_int_t)INT64_MIN, 0.1, 1e300, 9007199254740993.0);
  char *error;
  json_t *r = mh_client_invoke_sync(C, "types", args, 0, &error);
  json_decref(args);
  say_result("types", r, &error);
  mh_client_once(C, "nums", print_then_done, "nums");
  mh_client_send(C, "want-nums", NULL, 0);
}

/* ---- errors: Electron's texts, refused arguments ------------------------------ */

static void on_async_boom(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)c, (void)ud;
  if (result) say("async boom returned", result);
  else printf("c: async boom error: %s\n", error);
  send_done();
}

static json_t *nest(int levels) {
  json_t *v = json_integer(7);
  for (int i = 0; i < levels; i++) v = json_pack("[o]", v);
  return v;
}

static void scenario_errors(void) {
  char *error;
  say_result("boom", mh_client_invoke_sync(C, "boom", NULL, 0, &error), &error);
  say_result("missing", mh_client_invoke_sync(C, "missing", NULL, 0, &error), &error);
  say_result("nobody", mh_client_send_sync(C, "nobody", NULL, 0, &error), &error);

  json_t *notarray = json_integer(1);
  printf("c: send with a non-array: %s\n", uv_err_name(mh_client_send(C, "x", notarray, 0)));
  say_result("sendSync with a non-array", mh_client_send_sync(C, "x", notarray, 0, &error), &error);
  json_decref(notarray);

  /* MH_CLIENT_MAX_DEPTH levels go through the host; one more is refused here. */
  json_t *deep = json_pack("[o]", nest(MH_CLIENT_MAX_DEPTH));
  say_result("deepest", mh_client_invoke_sync(C, "depth", deep, 0, &error), &error);
  json_decref(deep);
  deep = json_pack("[io]", 1, nest(MH_CLIENT_MAX_DEPTH + 1));
  printf("c: send too deep: %s\n", uv_err_name(mh_client_send(C, "depth", deep, 0)));
  say_result("too deep", mh_client_invoke_sync(C, "depth", deep, 0, &error), &error);
  json_decref(deep);

  if (mh_client_invoke(C, "boom", NULL, 0, on_async_boom, NULL) != 0) printf("c: invoke failed\n");
}

/* ---- sync: messages that come during a sendSync wait their turn -------------- */

static int during_seen;

static void on_during(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  print_listener(c, ch, args, frame, ud);
  if (++during_seen == 4) send_done();
}

static void sync_from_timer(uv_timer_t *t) {
  char *error;
  /* Outside any dispatch: what arrives meanwhile must still be delivered
   * afterwards without more traffic from the host. */
  say_result("slow from a timer", mh_client_send_sync(C, "slow", NULL, 0, &error), &error);
  uv_close((uv_handle_t *)t, NULL);
}

static void scenario_sync(void) {
  static uv_timer_t timer;
  char *error;
  mh_client_on(C, "during", on_during, "during");
  say_result("slow", mh_client_send_sync(C, "slow", NULL, 0, &error), &error);
  say_result("null", mh_client_send_sync(C, "null", NULL, 0, &error), &error);
  say_result("table", mh_client_send_sync(C, "table", NULL, 0, &error), &error);
  json_t *two = json_pack("[ii]", 1, 2);
  say_result("frame 2", mh_client_send_sync(C, "which-frame", two, 2, &error), &error);
  json_decref(two);
  uv_timer_init(mh_client_loop(C), &timer);
  uv_timer_start(&timer, sync_from_timer, 0, 0);
}

/* ---- listeners: Node EventEmitter order, on/once/off ------------------------- */

static void ev_c(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud);
static void ev_d(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud);

static void ev_a(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  json_int_t n = json_integer_value(json_array_get(args, 0));
  printf("c: A%s ev %" JSON_INTEGER_FORMAT " frame %d\n", (const char *)ud, n, frame);
  if (strcmp(ud, "1") != 0) return;
  (void)ch;
  if (n == 1) {
    printf("c: off C: %d\n", mh_client_off(c, "ev", ev_c, NULL));
    mh_client_on(c, "ev", ev_d, NULL);
  } else if (n == 3) {
    printf("c: count %zu\n", mh_client_listener_count(c, "ev"));
    printf("c: off C again: %s\n", uv_err_name(mh_client_off(c, "ev", ev_c, NULL)));
    mh_client_remove_all_listeners(c, "ev");
    printf("c: count after remove all %zu\n", mh_client_listener_count(c, "ev"));
    send_done();
  }
}

static void ev_b(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)c, (void)ch, (void)frame, (void)ud;
  printf("c: B ev %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_array_get(args, 0)));
}

static void ev_c(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)c, (void)ch, (void)frame, (void)ud;
  printf("c: C ev %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_array_get(args, 0)));
}

static void ev_d(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)c, (void)ch, (void)frame, (void)ud;
  printf("c: D ev %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_array_get(args, 0)));
}

static void scenario_listeners(void) {
  mh_client_on(C, "ev", ev_a, "1");
  mh_client_once(C, "ev", ev_b, NULL);
  mh_client_on(C, "ev", ev_c, NULL);
  mh_client_on(C, "ev", ev_a, "2");
  printf("c: count %zu\n", mh_client_listener_count(C, "ev"));
  mh_client_send(C, "go", NULL, 2);  /* from frame 2: the replies come back there */
}

/* ---- waits: mh_client_run waits in recv() only when nothing else is active ---- */

static void tick(uv_timer_t *t) {
  static int n;
  json_t *a = json_pack("[i]", ++n);
  mh_client_send(C, "tick", a, 0);
  json_decref(a);
  if (n == 3) {
    uv_close((uv_handle_t *)t, NULL);
    send_done();
  }
}

/* A timer on the client's loop while the host sends nothing: it must tick. */
static void scenario_ticks(void) {
  static uv_timer_t timer;
  uv_timer_init(mh_client_loop(C), &timer);
  uv_timer_start(&timer, tick, 1, 1);
}

/* The program turns the loop itself (UV_RUN_NOWAIT) before mh_client_run:
 * no turn may block waiting for the host, which sends nothing. */
static void scenario_nowait(void) {
  int turns = 0;
  while (turns < 1000) {
    uv_run(mh_client_loop(C), UV_RUN_NOWAIT);
    turns++;
  }
  printf("c: turned the loop %d times\n", turns);
  send_done();
}

/* ---- the end: the host closes the channel, or quits ---------------------------- */

static void on_never(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)c, (void)ud;
  if (result) say("never returned", result);
  else printf("c: pending invoke error: %s\n", error);
}

static void scenario_end(void) {
  if (mh_client_invoke(C, "never", NULL, 0, on_never, NULL) != 0) printf("c: invoke failed\n");
  mh_client_send(C, "ready", NULL, 0);
}

/* ---- found by a review of the library (spec 09's last cases) ---------------- */

static void on_quick(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)c, (void)ud;
  if (result) say("quick", result);
  else printf("c: quick error: %s\n", error);
}

/* An invoke's result, then a message, then the end, all while a sendSync
 * waits: the result and the message are delivered afterwards, in order,
 * and only then the end. */
static void (*after_run)(void);  /* a scenario's check once mh_client_run returned */

static void after_timer(uv_timer_t *t) {
  printf("c: a timer after the end fired\n");
  uv_close((uv_handle_t *)t, NULL);
}

/* The loop runs normally after the end: no uv_stop left pending. */
static void lostresult_after(void) {
  static uv_timer_t t;
  uv_timer_init(mh_client_loop(C), &t);
  uv_timer_start(&t, after_timer, 1, 0);
  uv_run(mh_client_loop(C), UV_RUN_DEFAULT);
}

static void scenario_lostresult(void) {
  mh_client_on(C, "note", print_listener, "note");
  mh_client_invoke(C, "quick", NULL, 0, on_quick, NULL);
  char *error;
  say_result("sync-then-close", mh_client_send_sync(C, "sync-then-close", NULL, 0, &error), &error);
  /* Closed from now on, though the lines before the end are still to come. */
  printf("c: closed after the failed sendSync: %d, send: %s\n", mh_client_is_closed(C),
         uv_err_name(mh_client_send(C, "late", NULL, 0)));
  after_run = lostresult_after;
}

static int big_left;

static void on_big(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)c, (void)ud;
  if (!result) printf("c: big error: %s\n", error);
  else if (--big_left == 0) {
    printf("c: every big result came\n");
    send_done();
  }
}

/* Requests queued faster than they are written while the host answers
 * them with more than maxQueuedBytes: the client must read while it waits
 * to write, or both sides wait for ever. */
static void scenario_manyinvokes(void) {
  static char pad[2001];
  memset(pad, 'p', 2000);
  pad[2000] = 0;
  big_left = 2000;
  for (int i = 0; i < 2000; i++) {
    json_t *a = json_pack("[is]", 16384, pad);
    if (mh_client_invoke(C, "big", a, 0, on_big, NULL) != 0) printf("c: invoke %d failed\n", i);
    json_decref(a);
  }
}

static void ask_listener(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)ch, (void)args, (void)frame, (void)ud;
  char *error;
  say_result("x", mh_client_send_sync(c, "x", NULL, 0, &error), &error);
}

/* The end comes in a blocking call inside mh_client_run: closing afterwards
 * must still close everything (the loop's stop flag was left set). */
static void scenario_stalestop(void) {
  mh_client_on(C, "ask", ask_listener, NULL);
  char *error;
  say_result("first", mh_client_send_sync(C, "first", NULL, 0, &error), &error);
}

/* With limits.maxDepth 64 (MAINHOST_MAX_DEPTH), arguments may nest 62. */
static void scenario_depth(void) {
  json_t *ok = json_pack("[o]", nest(62)), *deep = json_pack("[o]", nest(63));
  printf("c: send 62 levels: %d\n", mh_client_send(C, "log", ok, 0));
  printf("c: send 63 levels: %s\n", uv_err_name(mh_client_send(C, "log", deep, 0)));
  char *error;
  say_result("sync 63 levels", mh_client_send_sync(C, "log", deep, 0, &error), &error);
  json_decref(ok);
  json_decref(deep);
  send_done();
}

/* NULL where a client or a channel goes: refused, never a crash. */
static void scenario_nulls(void) {
  char *error;
  say_result("send_sync(NULL)", mh_client_send_sync(NULL, "x", NULL, 0, &error), &error);
  say_result("send_sync(c, NULL)", mh_client_send_sync(C, NULL, NULL, 0, &error), &error);
  say_result("invoke_sync(c, NULL)", mh_client_invoke_sync(C, NULL, NULL, 0, &error), &error);
  printf("c: off(c, NULL): %s\n", uv_err_name(mh_client_off(C, NULL, print_listener, NULL)));
  printf("c: off(NULL): %s\n", uv_err_name(mh_client_off(NULL, "x", print_listener, NULL)));
  printf("c: listener_count(c, NULL): %zu\n", mh_client_listener_count(C, NULL));
  printf("c: hello(NULL): %s\n", uv_err_name(mh_client_hello(NULL)));
  printf("c: flush(NULL): %s\n", uv_err_name(mh_client_flush(NULL)));
  printf("c: run(NULL): %s\n", uv_err_name(mh_client_run(NULL)));
  printf("c: is_closed(NULL): %d, loop(NULL): %p\n", mh_client_is_closed(NULL), (void *)mh_client_loop(NULL));
  printf("c: connect(NULL, NULL): %s\n", uv_err_name(mh_client_connect(NULL, NULL)));
  mh_client_remove_all_listeners(NULL, NULL);
  mh_client_stop(NULL);
  mh_client_close(NULL);
  send_done();
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *scenario = argc > 1 ? argv[1] : "";
  int rc = mh_client_connect(NULL, &C);
  if (rc < 0) {
    printf("c: connect: %s\n", uv_err_name(rc));
    return 3;
  }
  mh_client_hello(C);
  if (!strcmp(scenario, "bytes")) scenario_bytes();
  else if (!strcmp(scenario, "numbers")) scenario_numbers();
  else if (!strcmp(scenario, "errors")) scenario_errors();
  else if (!strcmp(scenario, "sync")) scenario_sync();
  else if (!strcmp(scenario, "listeners")) scenario_listeners();
  else if (!strcmp(scenario, "end")) scenario_end();
  else if (!strcmp(scenario, "ticks")) scenario_ticks();
  else if (!strcmp(scenario, "nowait")) scenario_nowait();
  else if (!strcmp(scenario, "lostresult")) scenario_lostresult();
  else if (!strcmp(scenario, "manyinvokes")) scenario_manyinvokes();
  else if (!strcmp(scenario, "stalestop")) scenario_stalestop();
  else if (!strcmp(scenario, "depth")) scenario_depth();
  else if (!strcmp(scenario, "nulls")) scenario_nulls();
  else if (!strcmp(scenario, "hello")) {
    /* only the hello: the main script waits for it to count as loaded */
  }
  else {
    printf("c: unknown scenario '%s'\n", scenario);
    return 2;
  }
  rc = mh_client_run(C);
  printf("c: run returned %d\n", rc);
  if (after_run) after_run();
  /* The channel is closed: sends fail, blocking calls say so. */
  printf("c: send after the end: %s\n", uv_err_name(mh_client_send(C, "late", NULL, 0)));
  char *error;
  say_result("sendSync after the end", mh_client_send_sync(C, "late", NULL, 0, &error), &error);
  mh_client_close(C);
  return 0;
}
