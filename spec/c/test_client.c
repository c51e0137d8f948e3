/* test_client.c: libmainhost-renderer against a hand-played host on a
 * socketpair, on the caller's loop: the exact bytes it writes, the values
 * it reads, invoke callbacks, blocking calls with lines held back, and the
 * end of the channel; the loop closes cleanly after mh_client_close. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mainhost/renderer.h>

#include "mh_test.h"

static int peer;

/* One line from the client (without the '\n'), into a static buffer. */
static const char *peer_line(void) {
  static char buf[4096];
  size_t n = 0;
  while (n + 1 < sizeof buf) {
    ssize_t r = read(peer, buf + n, 1);
    if (r <= 0 || buf[n] == '\n') break;
    n++;
  }
  buf[n] = 0;
  return buf;
}

static void peer_write(const char *s) {
  size_t n = strlen(s);
  CHECK_INT(write(peer, s, n), (long long)n);
}

typedef struct seen {
  int calls;
  int frame;
  json_t *args;  /* last args (new) */
  char error[256];
} seen_t;

static void listener(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)c, (void)ch;
  seen_t *s = ud;
  s->calls++;
  s->frame = frame;
  json_decref(s->args);
  s->args = json_incref(args);
}

static void invoke_cb(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)c;
  seen_t *s = ud;
  s->calls++;
  json_decref(s->args);
  s->args = result ? json_incref(result) : NULL;
  snprintf(s->error, sizeof s->error, "%s", error ? error : "");
}

static void stopper(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)ch, (void)args, (void)frame;
  ++*(int *)ud;
  mh_client_stop(c);
}

static void run_until(uv_loop_t *loop, int *counter, int want) {
  for (int i = 0; i < 1000 && *counter < want; i++) uv_run(loop, UV_RUN_ONCE);
}

int main(void) {
  int sv[2];
  CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  peer = sv[1];
  uv_loop_t loop;
  uv_loop_init(&loop);
  mh_client_t *c = NULL;
  CHECK_INT(mh_client_open(&loop, sv[0], &c), 0);
  CHECK(mh_client_loop(c) == &loop);

  /* What the client writes. */
  CHECK_INT(mh_client_hello(c), 0);
  CHECK_INT(mh_client_flush(c), 0);
  CHECK(strncmp(peer_line(), "{\"k\":\"hello\",\"v\":1,\"pid\":", 25) == 0);
  json_t *args = json_pack("[o,i,f,f,{s:n},b,[]]", json_stringn_nocheck("\xff" "a\xc3\xa9\n\0", 6), 1, 1.0,
                           0.1, "a", 1);
  CHECK_INT(mh_client_send(c, "ch\x80", args, 2), 0);
  CHECK_INT(mh_client_send(c, "none", NULL, 1), 0);
  json_decref(args);
  CHECK_INT(mh_client_flush(c), 0);
  CHECK_STR(peer_line(),
            "{\"k\":\"send\",\"ch\":\"ch\\udc80\",\"frame\":2,\"args\":[\"\\udcffa\xc3\xa9\\n\\u0000\",1,1.0,"
            "0.1,{\"a\":null},true,[]]}");
  CHECK_STR(peer_line(), "{\"k\":\"send\",\"ch\":\"none\",\"args\":[]}");

  /* What it reads: bytes, integers vs reals, frames; junk is skipped. */
  seen_t ev = {0};
  CHECK_INT(mh_client_on(c, "ev", listener, &ev), 0);
  peer_write("not json\n{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[\"\\udcfe\\u0000\",2,2.0,-0.0,{\"k\":1,\"k\":2}]}\n");
  run_until(&loop, &ev.calls, 1);
  CHECK_INT(ev.calls, 1);
  CHECK_INT(ev.frame, 1);
  json_t *s = json_array_get(ev.args, 0);
  CHECK_MEM(json_string_value(s), json_string_length(s), "\xfe\0", 2);
  CHECK(json_is_integer(json_array_get(ev.args, 1)));
  CHECK(json_is_real(json_array_get(ev.args, 2)));
  CHECK(json_is_real(json_array_get(ev.args, 3)));
  CHECK_INT(json_integer_value(json_object_get(json_array_get(ev.args, 4), "k")), 2);  /* the last wins */
  peer_write("{\"k\":\"msg\",\"ch\":\"ev\",\"frame\":3}\n");
  run_until(&loop, &ev.calls, 2);
  CHECK_INT(ev.frame, 3);
  CHECK_INT(json_array_size(ev.args), 0);

  /* invoke: the callback gets the result array or Electron's error text. */
  seen_t inv = {0};
  args = json_pack("[ii]", 1, 2);
  CHECK_INT(mh_client_invoke(c, "add", args, 0, invoke_cb, &inv), 0);
  CHECK_INT(mh_client_invoke(c, "add", NULL, 0, invoke_cb, &inv), 0);
  json_decref(args);
  CHECK_INT(mh_client_flush(c), 0);
  CHECK_STR(peer_line(), "{\"k\":\"invoke\",\"ch\":\"add\",\"id\":1,\"args\":[1,2]}");
  CHECK_STR(peer_line(), "{\"k\":\"invoke\",\"ch\":\"add\",\"id\":2,\"args\":[]}");
  peer_write("{\"k\":\"result\",\"id\":1,\"args\":[3]}\n");
  run_until(&loop, &inv.calls, 1);
  CHECK_INT(json_integer_value(json_array_get(inv.args, 0)), 3);
  CHECK_STR(inv.error, "");
  peer_write("{\"k\":\"result\",\"id\":2,\"error\":\"Error: x\"}\n");
  run_until(&loop, &inv.calls, 2);
  CHECK(inv.args == NULL);
  CHECK_STR(inv.error, "Error invoking remote method 'add': Error: x");

  /* Blocking: the answer is already waiting behind a message, which is
   * held back and delivered when the loop runs. */
  peer_write("{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[\"held\"]}\n{\"k\":\"result\",\"id\":3,\"args\":[{\"x\":[1.5]}]}\n");
  char *error = NULL;
  json_t *v = mh_client_send_sync(c, "get", NULL, 0, &error);
  CHECK(v != NULL && error == NULL);
  CHECK(json_real_value(json_array_get(json_object_get(v, "x"), 0)) == 1.5);
  json_decref(v);
  CHECK_STR(peer_line(), "{\"k\":\"sync\",\"ch\":\"get\",\"id\":3,\"args\":[]}");
  CHECK_INT(ev.calls, 2);
  run_until(&loop, &ev.calls, 3);
  CHECK_INT(ev.calls, 3);
  CHECK_STR(json_string_value(json_array_get(ev.args, 0)), "held");
  peer_write("{\"k\":\"result\",\"id\":4,\"error\":\"Error: No handler registered for 'q'\"}\n");
  v = mh_client_invoke_sync(c, "q", NULL, 0, &error);
  CHECK(v == NULL);
  CHECK_STR(error, "Error invoking remote method 'q': Error: No handler registered for 'q'");
  free(error);
  peer_line();

  /* mh_client_stop in a listener: run returns with the channel open. */
  int stops = 0;
  CHECK_INT(mh_client_once(c, "stop", stopper, &stops), 0);
  peer_write("{\"k\":\"msg\",\"ch\":\"stop\"}\n");
  CHECK_INT(mh_client_run(c), 0);
  CHECK_INT(stops, 1);
  CHECK(!mh_client_is_closed(c));
  CHECK_INT(mh_client_listener_count(c, "stop"), 0);

  /* The host goes: pending invokes fail, run returns 0, sends fail. */
  CHECK_INT(mh_client_invoke(c, "late", NULL, 0, invoke_cb, &inv), 0);
  CHECK_INT(mh_client_flush(c), 0);
  close(peer);
  CHECK_INT(mh_client_run(c), 0);
  CHECK_INT(inv.calls, 3);
  CHECK_STR(inv.error, "Error invoking remote method 'late': the host closed the channel");
  CHECK(mh_client_is_closed(c));
  CHECK_INT(mh_client_send(c, "x", NULL, 0), UV_EPIPE);
  CHECK_INT(mh_client_invoke(c, "x", NULL, 0, invoke_cb, &inv), UV_EPIPE);

  mh_client_close(c);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(uv_loop_close(&loop), 0);
  json_decref(ev.args);
  json_decref(inv.args);
  return TEST_DONE();
}
