/* test_client.c: libmainhost-renderer against a hand-played host on a
 * socketpair, on the caller's loop: the exact bytes it writes, the values
 * it reads, invoke callbacks, blocking calls with lines held back, and the
 * end of the channel; the loop closes cleanly after mh_client_close. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mainhost/renderer.h>

#include "json_show.h"
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


/* ---- unusual lines from the host, logged with the warnings they give ---- */

static FILE *logf;  /* stderr points here while the lines are played */

static void log_listener(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)c, (void)ud;
  json_t *name = json_string_nocheck(ch);
  fputs("on ", stderr);
  show(stderr, name);
  json_decref(name);
  fprintf(stderr, " frame %d ", frame);
  show(stderr, args);
  fputc('\n', stderr);
}

static void depth_listener(mh_client_t *c, const char *ch, json_t *args, int frame, void *ud) {
  (void)c, (void)ch, (void)frame, (void)ud;
  int depth = 0;
  for (json_t *v = args; json_is_array(v); v = json_array_get(v, 0)) depth++;
  fprintf(stderr, "on deep: %d arrays\n", depth);
}

static void log_invoke(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)c;
  fprintf(stderr, "invoke %s: ", (const char *)ud);
  if (result) show(stderr, result);
  else fprintf(stderr, "error %s", error);
  fputc('\n', stderr);
}

/* n nested arrays around 0, inside a msg on "deep". */
static char *deep_line(int n) {
  char *s = malloc((size_t)n * 2 + 64), *p = s;
  p += sprintf(p, "{\"k\":\"msg\",\"ch\":\"deep\",\"args\":[");
  for (int i = 0; i < n; i++) *p++ = '[';
  *p++ = '0';
  for (int i = 0; i < n; i++) *p++ = ']';
  strcpy(p, "]}\n");
  return s;
}

static void unusual_lines(mh_client_t *c) {
  /* Each invoke's ud: its name (ids 5 to 10). */
  static char inv[6][4] = {"r1", "r2", "r3", "r4", "r5", "r6"};
  for (int i = 0; i < 6; i++)
    CHECK_INT(mh_client_invoke(c, "u", NULL, 0, log_invoke, inv[i]), 0);
  CHECK_INT(mh_client_flush(c), 0);
  for (int i = 0; i < 6; i++) peer_line();
  int done = 0;
  CHECK_INT(mh_client_on(c, "ev", log_listener, NULL), 0);
  CHECK_INT(mh_client_on(c, "deep", depth_listener, NULL), 0);
  CHECK_INT(mh_client_on(c, "\xff" "x", log_listener, NULL), 0);
  CHECK_INT(mh_client_once(c, "end", stopper, &done), 0);

  fflush(stderr);
  int saved = dup(2);
  logf = tmpfile();
  dup2(fileno(logf), 2);
  peer_write(
      "not json\n"
      "[1]\n"
      "\n"
      "{\"cmd\":\"NODE_X\"}\n"
      "{\"x\":1}\n"
      "{\"k\":1}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":{}}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"frame\":1.0,\"args\":[]}\n"
      "{\"k\":\"result\",\"id\":\"1\",\"args\":[]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"v\":\"x\"}\n"
      "{\"k\":\"msg\",\"ch\":5}\n"
      "{\"k\":\"msg\",\"args\":[1]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"frame\":0}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"frame\":2147483648}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"frame\":-3,\"args\":[]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"frame\":2147483647,\"args\":[1]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[1],\"args\":[2]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[1]} x\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[1],}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[1,]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[01]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[1e400]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[\"\xff\"]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[\"a\nb\"]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[tru]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[1]\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"id\":99999999999999999999,\"args\":[]}\n"
      "{\"k\":\"result\",\"id\":5,\"error\":7,\"args\":[1]}\n"
      "{\"k\":\"result\",\"id\":6,\"error\":\"a\\u0000b \\\"q\\\" \\udcff\"}\n"
      "{\"k\":\"result\",\"args\":[1],\"id\":7,\"ch\":\"zz\",\"frame\":5,\"v\":9}\n"
      "{\"k\":\"result\",\"id\":7,\"args\":[\"again\"]}\n"
      "{\"k\":\"result\",\"id\":8,\"args\":[2],\"error\":\"late error\"}\n"
      "{\"k\":\"result\",\"id\":9,\"args\":{}}\n"
      "{\"k\":\"result\",\"id\":9,\"error\":\"\\u00e9\xc3\xa9\"}\n"
      "{\"id\":10,\"args\":[{\"a\":[]}],\"k\":\"result\"}\n"
      "{\"k\":\"novel\",\"ch\":\"ev\",\"args\":[1]}\n"
      "{\"k\":\"hello\",\"v\":2}\n"
      "{\"k\":\"hello\",\"v\":1}\n"
      "{\"k\":\"msg\",\"ch\":\"e\\u0076\",\"args\":[\"escaped channel\"]}\n"
      "{\"k\":\"msg\",\"ch\":\"\\udcffx\",\"args\":[\"lone byte channel\"]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\\u0000\",\"args\":[\"NUL channel\"]}\n"
      "{\"k\":\"m\\u0073g\",\"ch\":\"ev\",\"args\":[\"escaped kind\"]}\n"
      "{\"k\":\"msg\\u0000\",\"ch\":\"ev\",\"args\":[\"kind with a NUL\"]}\n"
      "{\"\\u006b\":\"msg\",\"ch\":\"ev\",\"args\":[\"escaped key\"]}\n"
      "{\"k\":\"result\",\"k\":\"msg\",\"ch\":\"ev\",\"args\":[\"last k\"]}\n"
      "{\"k\":\"msg\",\"ch\":\"x\",\"ch\":\"ev\",\"frame\":4,\"frame\":2,\"args\":[\"last ch\"]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"extra\":{\"a\":[1]},\"args\":[[[[1]]]]}\n"
      " {\"k\" : \"msg\" ,\r\n"
      "\t{ \"k\" : \"msg\" , \"ch\" : \"ev\" , \"args\" : [ 1 , \"x\\ud800\" , { } , [ ] ] } \r\n"
      "{\"k\":\"msg\",\"ch\":\"ev\",\"args\":[-0,-5,12345678901234567890,-9223372036854775808,"
      "9223372036854775807,123456789012345678,0.5,1E2,-1e-2,true,false,null,\"\xc3\xa9\",\"\\\"\\\\\\/\\b\\f\\n\\r\\t\","
      "{\"k\":1,\"k\":{\"z\":2,\"y\":3}},{\"\\udcff\":1}]}\n"
      "{\"k\":\"msg\",\"ch\":\"ev\"}\n"
      "{\"k\":\"msg\",\"ch\":\"nobody\",\"args\":[1]}\n"
      "{\"k\":\"msg\",\"ch\":\"nobody\",\"args\":[1}\n");
  char *ok = deep_line(9998), *over = deep_line(9999);
  peer_write(ok);
  peer_write(over);
  free(ok);
  free(over);
  peer_write("{\"k\":\"msg\",\"ch\":\"end\"}\n");
  CHECK_INT(mh_client_run(c), 0);

  /* The blocking calls read their result lines themselves. */
  static const char *const sync_replies[] = {
      "{\"k\":\"result\",\"id\":11,\"error\":7}",
      "{\"k\":\"result\",\"id\":12,\"args\":{}}",
      "{\"k\":\"result\",\"id\":13,\"args\":[1],}",
      "{\"k\":\"result\",\"id\":14}",
      "{\"k\":\"result\",\"id\":15,\"args\":[]}",
      "{\"k\":\"result\",\"id\":16,\"args\":[1,\"\xff\"]}",
      "{\"k\":\"result\",\"id\":17,\"args\":[1,{\"a\":2}],\"error\":\"e\\u0000x\"}",
      "{\"k\":\"result\",\"id\":18,\"args\":[[1,{\"a\":2.5}],2]}",
      "{\"k\":\"result\",\"id\":19,\"v\":\"x\",\"args\":[1]}",
      "{\"k\":\"result\",\"id\":20,\"cmd\":1,\"args\":[3]}",
      "{\"k\":\"result\",\"id\":21,\"args\":[\"\\udcff\\u00e9\",-7,1.25,null]}",
      "{\"k\":\"result\",\"id\":22,\"error\":\"Error: \\\"x\\\" \\udcfe\"}",
  };
  for (int i = 0; i < (int)(sizeof sync_replies / sizeof sync_replies[0]); i++) {
    char line[256];
    snprintf(line, sizeof line, "%s\n", sync_replies[i]);
    peer_write(line);
    char *error = NULL;
    json_t *v = i % 2 ? mh_client_invoke_sync(c, "s", NULL, 0, &error)
                      : mh_client_send_sync(c, "s", NULL, 0, &error);
    peer_line();
    fprintf(stderr, "sync %d: ", 11 + i);
    if (v) show(stderr, v);
    else fprintf(stderr, "error %s", error);
    fputc('\n', stderr);
    json_decref(v);
    free(error);
  }
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  CHECK_INT(done, 1);
  mh_client_remove_all_listeners(c, NULL);

  static const char want[] =
      "mainhost client: ignored a message from the host: expected a value at byte 0\n"
      "mainhost client: ignored a message from the host: message is not a JSON object\n"
      "mainhost client: ignored a message from the host: message has no \"k\" field\n"
      "mainhost client: ignored a message from the host: field \"k\" must be a string\n"
      "mainhost client: ignored a message from the host: field \"args\" must be an array\n"
      "mainhost client: ignored a message from the host: field \"frame\" must be an integer\n"
      "mainhost client: ignored a message from the host: field \"id\" must be an integer\n"
      "mainhost client: ignored a message from the host: field \"v\" must be an integer\n"
      "mainhost client: ignored a message from the host: field \"ch\" must be a string\n"
      "mainhost client: ignored a message from the host: field \"ch\" must be a string\n"
      "mainhost client: ignored a message from the host: bad frame\n"
      "mainhost client: ignored a message from the host: bad frame\n"
      "mainhost client: ignored a message from the host: bad frame\n"
      "on \"ev\" frame 2147483647 [1]\n"
      "on \"ev\" frame 1 [2]\n"
      "mainhost client: ignored a message from the host: trailing characters after the value at byte 33\n"
      "mainhost client: ignored a message from the host: expected a string key at byte 32\n"
      "mainhost client: ignored a message from the host: expected a value at byte 31\n"
      "mainhost client: ignored a message from the host: leading zero in number at byte 30\n"
      "mainhost client: ignored a message from the host: number out of range at byte 29\n"
      "mainhost client: ignored a message from the host: invalid UTF-8 in string at byte 30\n"
      "mainhost client: ignored a message from the host: unterminated string at byte 31\n"
      "mainhost client: ignored a message from the host: expected a value at byte 0\n"
      "mainhost client: ignored a message from the host: expected a value at byte 29\n"
      "mainhost client: ignored a message from the host: unexpected end of input at byte 31\n"
      "mainhost client: ignored a message from the host: field \"id\" must be an integer\n"
      "invoke r1: error Error invoking remote method 'u': the host sent a malformed result\n"
      "invoke r2: error Error invoking remote method 'u': a\n"
      "invoke r3: [1]\n"
      "invoke r4: error Error invoking remote method 'u': late error\n"
      "mainhost client: ignored a message from the host: field \"args\" must be an array\n"
      "invoke r5: error Error invoking remote method 'u': \xc3\xa9\xc3\xa9\n"
      "invoke r6: [{\"a\":[]}]\n"
      "mainhost client: the host speaks protocol 2, this library 1\n"
      "on \"ev\" frame 1 [\"escaped channel\"]\n"
      "on \"\\xffx\" frame 1 [\"lone byte channel\"]\n"
      "on \"ev\" frame 1 [\"escaped kind\"]\n"
      "on \"ev\" frame 1 [\"kind with a NUL\"]\n"
      "on \"ev\" frame 1 [\"escaped key\"]\n"
      "on \"ev\" frame 1 [\"last k\"]\n"
      "on \"ev\" frame 2 [\"last ch\"]\n"
      "on \"ev\" frame 1 [[[[1]]]]\n"
      "mainhost client: ignored a message from the host: unexpected end of input at byte 16\n"
      "on \"ev\" frame 1 [1,\"x\\xed\\xa0\\x80\",{},[]]\n"
      "on \"ev\" frame 1 [0,-5,1.2345678901234567e+19r,-9223372036854775808,9223372036854775807,123456789012345678,0.5r,100r,-0.01r,true,false,null,\"\\xc3\\xa9\",\"\\x22\\x5c/\\x08\\x0c\\x0a\\x0d\\x09\",{\"k\":{\"z\":2,\"y\":3}},{\"\\xff\":1}]\n"
      "on \"ev\" frame 1 []\n"
      "mainhost client: ignored a message from the host: expected ',' or ']' at byte 34\n"
      "on deep: 9999 arrays\n"
      "mainhost client: ignored a message from the host: nested too deeply at byte 10029\n"
      "sync 11: error Error in sendSync for 's': the host sent a malformed result\n"
      "sync 12: error Error invoking remote method 's': the host sent a malformed result\n"
      "sync 13: error Error in sendSync for 's': expected a string key at byte 33\n"
      "sync 14: []\n"
      "sync 15: null\n"
      "sync 16: error Error invoking remote method 's': invalid UTF-8 in string at byte 33\n"
      "sync 17: error Error in sendSync for 's': e\n"
      "sync 18: [[1,{\"a\":2.5r}],2]\n"
      "sync 19: 1\n"
      "sync 20: [3]\n"
      "sync 21: \"\\xff\\xc3\\xa9\"\n"
      "sync 22: error Error invoking remote method 's': Error: \"x\" \xfe\n";
  long size = ftell(logf);
  char *got = malloc((size_t)size + 1);
  rewind(logf);
  CHECK_INT(fread(got, 1, (size_t)size, logf), size);
  got[size] = 0;
  fclose(logf);
  FILE *o = fopen(getenv("UNUSUAL_OUT") ? getenv("UNUSUAL_OUT") : "/dev/null", "w");
  fputs(got, o);
  fclose(o);
  CHECK_STR(got, want);
  free(got);
}

/* ---- the host ends the channel while the client blocks writing ---------------
 * A fake host answers invoke 1 without reading anything, then closes. The
 * client blocks writing a large sendSync meanwhile: it reads the answer,
 * its write fails, and the answer must still reach the invoke's callback
 * (before the end), while the sendSync fails and the client says it is
 * closed at once. Afterwards the client's own loop runs normally (no stop
 * left pending by the end). */

static int end_timer_fired;
static void end_timer_cb(uv_timer_t *t) {
  end_timer_fired = 1;
  uv_close((uv_handle_t *)t, NULL);
}

static void test_end_while_writing(void) {
  int sv[2];
  CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[1]);
    usleep(100000);
    static const char l[] = "{\"k\":\"result\",\"id\":1,\"args\":[\"ok\"]}\n";
    if (write(sv[0], l, sizeof l - 1) < 0) _exit(1);
    usleep(200000);
    _exit(0);
  }
  close(sv[0]);
  mh_client_t *c = NULL;
  CHECK_INT(mh_client_open(NULL, sv[1], &c), 0);
  seen_t got = {0};
  CHECK_INT(mh_client_invoke(c, "a", NULL, 0, invoke_cb, &got), 0);
  char *big = malloc(900000);
  memset(big, 'x', 899999);
  big[899999] = 0;
  json_t *args = json_pack("[s]", big);
  free(big);
  char *error = NULL;
  json_t *v = mh_client_send_sync(c, "s", args, 0, &error);
  json_decref(args);
  CHECK(v == NULL);
  CHECK_STR(error ? error : "(none)", "Error in sendSync for 's': the host closed the channel");
  free(error);
  CHECK_INT(mh_client_is_closed(c), 1);
  CHECK_INT(mh_client_send(c, "late", NULL, 0), UV_EPIPE);
  CHECK_INT(got.calls, 0);  /* not from inside the failed call */
  CHECK_INT(mh_client_run(c), 0);
  CHECK_INT(got.calls, 1);
  CHECK_STR(got.error, "");
  CHECK_STR(json_string_value(json_array_get(got.args, 0)), "ok");
  json_decref(got.args);
  uv_timer_t t;
  uv_timer_init(mh_client_loop(c), &t);
  uv_timer_start(&t, end_timer_cb, 1, 0);
  uv_run(mh_client_loop(c), UV_RUN_DEFAULT);
  CHECK_INT(end_timer_fired, 1);
  mh_client_close(c);
  waitpid(pid, NULL, 0);
}

int main(void) {
  test_end_while_writing();
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

  /* Strings of every length around the writer's shortcuts, plain or with a
   * byte to escape at the start, in the middle or last. */
  for (size_t n = 0; n <= 70; n++) {
    for (int where = -1; where < 3; where++) {
      char str[80], want[1024];
      for (size_t i = 0; i < n; i++) str[i] = (char)('a' + i % 26);
      size_t at = where == 0 ? 0 : where == 1 ? n / 2 : n - 1;
      if (where >= 0 && n == 0) continue;
      if (where >= 0) str[at] = (char)"\"\x80\x1f\\"[n % 4];
      json_t *a = json_array(), *o = json_object();
      json_object_setn_new_nocheck(o, str, n, json_integer(1));
      json_array_append_new(a, json_stringn_nocheck(str, n));
      json_array_append_new(a, o);
      CHECK_INT(mh_client_send(c, str[0] == 'a' || n == 0 ? "long channel name, more than 24 bytes" : "c", a, 0), 0);
      json_decref(a);
      CHECK_INT(mh_client_flush(c), 0);
      /* The expected text, byte by byte. */
      char enc[400];
      size_t e = 0;
      enc[e++] = '"';
      for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)str[i];
        if (ch == '"' || ch == '\\') { enc[e++] = '\\'; enc[e++] = (char)ch; }
        else if (ch == 0x1f) { memcpy(enc + e, "\\u001f", 6); e += 6; }
        else if (ch == 0x80) { memcpy(enc + e, "\\udc80", 6); e += 6; }
        else enc[e++] = (char)ch;
      }
      enc[e++] = '"';
      enc[e] = 0;
      snprintf(want, sizeof want, "{\"k\":\"send\",\"ch\":\"%s\",\"args\":[%s,{%s:1}]}",
               str[0] == 'a' || n == 0 ? "long channel name, more than 24 bytes" : "c", enc, enc);
      CHECK_STR(peer_line(), want);
    }
  }

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

  unusual_lines(c);

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
