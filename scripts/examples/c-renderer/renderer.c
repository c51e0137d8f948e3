/* renderer.c: the c-renderer example's renderer, in C: sends a ping,
 * listens for the pong, invokes a handler (asynchronously, then blocking),
 * asks the main script synchronously, and exits 0 when the host closes the
 * channel. Build: cc renderer.c $(pkg-config --cflags --libs mainhost-renderer) */
#include <stdio.h>
#include <stdlib.h>

#include <mainhost/renderer.h>

static int replies;

static void print_error_and_free(char *error) {
  printf("c-ui: %s\n", error ? error : "(no error text)");
  free(error);
}

/* The end of the asynchronous invoke('add', 2, 3). result is borrowed. */
static void on_sum(mh_client_t *c, json_t *result, const char *error, void *ud) {
  (void)ud;
  if (error) {
    printf("c-ui: %s\n", error);
    return;
  }
  replies++;
  printf("c-ui: 2 + 3 = %lld (%s)\n", (long long)json_integer_value(json_array_get(result, 0)),
         json_string_value(json_array_get(result, 1)));

  /* The blocking forms: they return new references, or NULL and a text. */
  char *error_text = NULL;
  json_t *args = json_pack("[fi]", 1.5, 2);
  json_t *sum = mh_client_invoke_sync(c, "add", args, 0, &error_text);
  json_decref(args);
  if (sum) {
    replies++;
    printf("c-ui: 1.5 + 2 = %g (%s)\n", json_real_value(json_array_get(sum, 0)),
           json_string_value(json_array_get(sum, 1)));
    json_decref(sum);
  } else {
    print_error_and_free(error_text);
  }

  json_t *now = mh_client_send_sync(c, "get-time", NULL, 0, &error_text);
  if (now) {
    replies++;
    printf("c-ui: the time in main is %s\n", json_string_value(now));
    json_decref(now);
  } else {
    print_error_and_free(error_text);
  }

  /* A handler that raises: the error text is Electron's. */
  json_t *nothing = mh_client_invoke_sync(c, "fail", NULL, 0, &error_text);
  if (nothing) json_decref(nothing);
  else print_error_and_free(error_text);

  args = json_pack("[i]", replies);
  mh_client_send(c, "done", args, 0);
  json_decref(args);
  /* The main script quits now; mh_client_run returns when it has. */
}

/* Listener for "pong"; args is borrowed. */
static void on_pong(mh_client_t *c, const char *channel, json_t *args, int frame, void *ud) {
  (void)channel, (void)frame, (void)ud;
  printf("c-ui: got pong %s\n", json_string_value(json_array_get(args, 0)));
  json_t *numbers = json_pack("[ii]", 2, 3);
  if (mh_client_invoke(c, "add", numbers, 0, on_sum, NULL) != 0) printf("c-ui: invoke failed\n");
  json_decref(numbers);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);  /* the host prints our lines as they come */
  mh_client_t *c;
  int rc = mh_client_connect(NULL, &c);  /* NULL: the client's own loop */
  if (rc == UV_ENOENT) {
    fprintf(stderr, "c-ui: MAINHOST_IPC_FD is not set: start me from mainhost (scripts/run c-renderer)\n");
    return 1;
  }
  if (rc < 0) {
    fprintf(stderr, "c-ui: cannot reach the host: %s\n", uv_strerror(rc));
    return 1;
  }
  mh_client_once(c, "pong", on_pong, NULL);
  mh_client_hello(c);

  json_t *args = json_pack("[s]", "hello from C");
  mh_client_send(c, "ping", args, 0);
  json_decref(args);

  mh_client_run(c);  /* until the host closes the channel */
  printf("c-ui: the host closed the channel, bye\n");
  mh_client_close(c);
  return 0;
}
