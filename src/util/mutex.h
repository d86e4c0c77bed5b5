/* Small pthread helpers shared by device models. */
#ifndef RINGFOLD_UTIL_MUTEX_H
#define RINGFOLD_UTIL_MUTEX_H

#include <pthread.h>

/* A mutex its owner may lock again: the interrupt controllers share one so
 * that a chain such as PIT → IOAPIC → LAPIC never takes a second lock. */
static inline void init_recursive_mutex(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

#endif
