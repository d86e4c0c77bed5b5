/* timeit: run a command and report how long it took, for bench/run.sh.
 *
 *   timeit [-t SECONDS] [-o FILE] -- COMMAND [ARG...]
 *
 * prints one line (to FILE, or stdout)
 *
 *   wall_ns=N user_us=N sys_us=N maxrss_kb=N status=N
 *
 * wall_ns runs from just before fork() to the moment the child has been
 * reaped, on CLOCK_MONOTONIC; the CPU times and peak RSS come from wait4()'s
 * rusage of the child (all its threads). status is the child's exit status,
 * 128 + signal if a signal ended it, 124 if it ran past the time limit (then
 * it is sent SIGTERM, and SIGKILL 2 s later), 127 if it could not be run.
 * timeit exits with the same status.
 *
 * Why not `date +%s%N` around the command in the shell: the start-time
 * benchmark measures processes that live a few milliseconds, and forking
 * date twice costs about as much. Waiting with sigtimedwait() on SIGCHLD
 * (instead of polling) adds no latency to the measurement. The child runs
 * in its own process group, which is killed as a whole on timeout or when
 * timeit itself is interrupted, so no VMM is left behind. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: timeit [-t SECONDS] [-o FILE] -- COMMAND [ARG...]\n");
	exit(2);
}

/* Waits for the child for at most timeout_ns (forever if <= 0). Returns 1
 * when it has exited (reaped into wstatus and ru), 0 on timeout, -1 when one
 * of the terminating signals arrived first. */
static int wait_child(pid_t pid, const sigset_t *set, long long timeout_ns, int *wstatus,
                      struct rusage *ru)
{
	long long deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
	for (;;) {
		pid_t r = wait4(pid, wstatus, WNOHANG, ru);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1; /* already gone: nothing left to wait for */
		int sig;
		if (timeout_ns > 0) {
			long long left = deadline - now_ns();
			if (left <= 0)
				return 0;
			struct timespec ts = {left / 1000000000LL, left % 1000000000LL};
			sig = sigtimedwait(set, NULL, &ts);
			if (sig < 0 && errno == EAGAIN)
				return 0;
		} else {
			sig = sigwaitinfo(set, NULL);
		}
		if (sig > 0 && sig != SIGCHLD)
			return -1;
	}
}

static void kill_and_reap(pid_t pid, const sigset_t *set, int *wstatus, struct rusage *ru)
{
	kill(-pid, SIGTERM);
	if (wait_child(pid, set, 2000000000LL, wstatus, ru) != 1) {
		kill(-pid, SIGKILL);
		wait4(pid, wstatus, 0, ru);
	}
}

int main(int argc, char **argv)
{
	double timeout_s = 0;
	const char *out_path = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+t:o:")) != -1) {
		switch (opt) {
		case 't': timeout_s = strtod(optarg, NULL); break;
		case 'o': out_path = optarg; break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();

	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);

	long long t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("timeit: fork");
		return 127;
	}
	if (pid == 0) {
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "timeit: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with a kill before the child ran */

	int wstatus = 0, status;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	int r = wait_child(pid, &set, (long long)(timeout_s * 1e9), &wstatus, &ru);
	long long wall = now_ns() - t0;
	if (r == 1) {
		status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	} else {
		kill_and_reap(pid, &set, &wstatus, &ru);
		status = r == 0 ? 124 : 130;
	}

	FILE *out = stdout;
	if (out_path && !(out = fopen(out_path, "w"))) {
		perror(out_path);
		return 127;
	}
	fprintf(out, "wall_ns=%lld user_us=%lld sys_us=%lld maxrss_kb=%ld status=%d\n", wall,
	        (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
	        (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss,
	        status);
	if (out != stdout)
		fclose(out);
	return status;
}
