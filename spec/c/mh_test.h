/* mh_test.h: a tiny assertion kit for the C unit tests; each test binary
 * prints one line per failure and exits non-zero if any check failed. */
#ifndef MH_TEST_H
#define MH_TEST_H
#include <stdio.h>
#include <string.h>

static int mh_test_failures, mh_test_checks;

#define CHECK(cond) do { mh_test_checks++; if (!(cond)) { mh_test_failures++; \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
  mh_test_checks++; if (_a != _b) { mh_test_failures++; \
  fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, _a, _b); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); mh_test_checks++; \
  if (!_a || strcmp(_a, _b) != 0) { mh_test_failures++; \
  fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, _a ? _a : "(null)", _b); } } while (0)
#define CHECK_MEM(a, alen, b, blen) do { mh_test_checks++; \
  if ((size_t)(alen) != (size_t)(blen) || memcmp((a), (b), (blen)) != 0) { mh_test_failures++; \
  fprintf(stderr, "%s:%d: %s differs from %s\n", __FILE__, __LINE__, #a, #b); } } while (0)
#define TEST_DONE() (printf("%d checks, %d failed\n", mh_test_checks, mh_test_failures), mh_test_failures ? 1 : 0)
#endif
