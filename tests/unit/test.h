/* A minimal unit-test harness: each tests/unit/test_*.c is one suite with its
 * own main (TEST_MAIN), printing a line per failed check and closing with
 * "N passed, N failed", which tests/run-all.sh adds up. */
#ifndef RINGFOLD_TEST_H
#define RINGFOLD_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_current_failed;
static const char *test_current;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("  FAIL %s: %s:%d: %s\n", test_current, __FILE__, __LINE__, #cond); \
			test_current_failed = 1;                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                       \
		if (check_a_ != check_b_) {                                                        \
			printf("  FAIL %s: %s:%d: %s == %s (%#" PRIx64 " != %#" PRIx64 ")\n",      \
			       test_current, __FILE__, __LINE__, #a, #b, check_a_, check_b_);      \
			test_current_failed = 1;                                                   \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		test_current = #fn;                                                                \
		test_current_failed = 0;                                                           \
		fn();                                                                              \
		if (test_current_failed)                                                           \
			test_failed++;                                                             \
		else {                                                                             \
			test_passed++;                                                             \
			printf("  ok %s\n", #fn);                                                  \
		}                                                                                  \
	} while (0)

#define TEST_DONE()                                                                                \
	do {                                                                                       \
		printf("%d passed, %d failed\n", test_passed, test_failed);                        \
		return test_failed ? 1 : 0;                                                        \
	} while (0)

#endif
