/* json_show.h: how the C client's specs print a JSON value, exactly:
 * integers bare, reals with an r (%.17g), strings' bytes outside printable
 * ASCII (and '"' and '\\') as \xNN, objects' members in order. Shared by
 * client_renderer.c and test_client.c (static: each program its own copy). */
#ifndef JSON_SHOW_H
#define JSON_SHOW_H

#include <stdio.h>

#include <jansson.h>

static void show_bytes(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)s[i];
    if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') fputc(b, f);
    else fprintf(f, "\\x%02x", b);
  }
  fputc('"', f);
}

static void show(FILE *f, json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      fputc('{', f);
      int first = 1;
      for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
        if (!first) fputc(',', f);
        first = 0;
        show_bytes(f, json_object_iter_key(it), json_object_iter_key_len(it));
        fputc(':', f);
        show(f, json_object_iter_value(it));
      }
      fputc('}', f);
      break;
    }
    case JSON_ARRAY:
      fputc('[', f);
      for (size_t i = 0; i < json_array_size(v); i++) {
        if (i) fputc(',', f);
        show(f, json_array_get(v, i));
      }
      fputc(']', f);
      break;
    case JSON_STRING: show_bytes(f, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: fprintf(f, "%.17gr", json_real_value(v)); break;
    case JSON_TRUE: fputs("true", f); break;
    case JSON_FALSE: fputs("false", f); break;
    case JSON_NULL: fputs("null", f); break;
  }
}

#endif
