#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "vm.h"

/* Input buffered between stdin and the UART. A paste larger than this waits
 * in the host's tty/pipe buffer until the guest catches up. */
#define CONSOLE_RING_SIZE 4096
/* How long one console_write() may wait for a stalled output before it drops
 * data; later writes to a still-stalled output drop at once. */
#define CONSOLE_WRITE_TIMEOUT_MS 2000
#define CONSOLE_WRITE_CHUNK 4096

#define CTRL_A 0x01

struct console {
	struct vm *vm;
	int out_fd;
	bool out_is_file;   /* --console FILE: we opened it, it never stalls */
	bool out_may_epipe; /* pipe or socket: write() may raise SIGPIPE */
	pthread_mutex_t out_lock;
	bool out_stalled;
	bool out_warned;

	int in_fd;    /* -1: no input */
	bool escapes; /* stdin is a terminal: Ctrl-A is the escape character */
	bool escape_pending;
	bool raw_mode; /* this console put the terminal in raw mode */
	int wake[2];
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock; /* ring and stop */
	pthread_cond_t room;
	uint8_t ring[CONSOLE_RING_SIZE];
	size_t head, count;
	bool stop;

	pthread_mutex_t handler_lock;
	console_input_fn handler;
	void *handler_opaque;
};

/* ---- Terminal state, restored from atexit and signal handlers. ---- */

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;
static const int restore_signals[] = {SIGINT,  SIGTERM, SIGHUP, SIGQUIT, SIGSEGV,
                                      SIGABRT, SIGBUS,  SIGFPE, SIGILL};
static struct sigaction previous_actions[sizeof restore_signals / sizeof restore_signals[0]];
static bool handlers_installed;
static pthread_mutex_t terminal_lock = PTHREAD_MUTEX_INITIALIZER;

void console_restore_terminal(void)
{
	/* tcsetattr is async-signal-safe; saved_termios is written before
	 * termios_saved is set and never changes while it is set. */
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

static void console_restore_at_exit(void)
{
	console_restore_terminal();
}

/* Restore the terminal, then let the signal do what it would have done
 * without us: chain to a handler installed before ours, or re-raise with the
 * default action so the exit status still says "killed by signal". */
static void console_signal_handler(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;
	console_restore_terminal();
	for (size_t i = 0; i < sizeof restore_signals / sizeof restore_signals[0]; i++) {
		if (restore_signals[i] != sig)
			continue;
		const struct sigaction *prev = &previous_actions[i];
		if (prev->sa_flags & SA_SIGINFO) {
			if (prev->sa_sigaction)
				prev->sa_sigaction(sig, info, uctx);
		} else if (prev->sa_handler == SIG_IGN) {
			/* nothing */
		} else if (prev->sa_handler != SIG_DFL) {
			prev->sa_handler(sig);
		} else {
			/* The signal is blocked while we run: raise() leaves it
			 * pending and it kills us on return. A fault re-faults. */
			struct sigaction dfl = {0};
			dfl.sa_handler = SIG_DFL;
			sigemptyset(&dfl.sa_mask);
			sigaction(sig, &dfl, NULL);
			raise(sig);
		}
		break;
	}
	errno = saved_errno;
}

/* Caller holds terminal_lock. */
static void console_install_handlers(void)
{
	if (handlers_installed)
		return;
	handlers_installed = true;
	atexit(console_restore_at_exit);
	for (size_t i = 0; i < sizeof restore_signals / sizeof restore_signals[0]; i++) {
		struct sigaction sa = {0};
		sa.sa_sigaction = console_signal_handler;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(restore_signals[i], &sa, &previous_actions[i]);
	}
}

static bool console_enter_raw_mode(void)
{
	struct termios t;
	if (tcgetattr(STDIN_FILENO, &t) < 0)
		return false;
	pthread_mutex_lock(&terminal_lock);
	if (termios_saved) { /* another console already owns the terminal */
		pthread_mutex_unlock(&terminal_lock);
		return false;
	}
	saved_termios = t;
	termios_saved = 1;
	console_install_handlers();
	/* Raw input so every key (Ctrl-C included) reaches the guest; output
	 * processing stays on so a bare "\n" from the guest still returns the
	 * cursor, as QEMU does. */
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	bool ok = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
	if (!ok)
		termios_saved = 0;
	pthread_mutex_unlock(&terminal_lock);
	return ok;
}

static void console_leave_raw_mode(void)
{
	pthread_mutex_lock(&terminal_lock);
	console_restore_terminal();
	termios_saved = 0;
	pthread_mutex_unlock(&terminal_lock);
}

/* ---- Input. ---- */

static void console_notify(struct console *con)
{
	pthread_mutex_lock(&con->handler_lock);
	if (con->handler)
		con->handler(con->handler_opaque);
	pthread_mutex_unlock(&con->handler_lock);
}

/* Appends what fits; returns the count. */
static size_t console_push(struct console *con, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&con->lock);
	size_t n = CONSOLE_RING_SIZE - con->count;
	if (n > len)
		n = len;
	for (size_t i = 0; i < n; i++)
		con->ring[(con->head + con->count + i) % CONSOLE_RING_SIZE] = buf[i];
	con->count += n;
	pthread_mutex_unlock(&con->lock);
	return n;
}

size_t console_read(struct console *con, uint8_t *buf, size_t len)
{
	if (!con)
		return 0;
	pthread_mutex_lock(&con->lock);
	size_t n = con->count < len ? con->count : len;
	bool was_full = con->count == CONSOLE_RING_SIZE;
	for (size_t i = 0; i < n; i++)
		buf[i] = con->ring[(con->head + i) % CONSOLE_RING_SIZE];
	con->head = (con->head + n) % CONSOLE_RING_SIZE;
	con->count -= n;
	if (was_full && n > 0)
		pthread_cond_signal(&con->room);
	pthread_mutex_unlock(&con->lock);
	return n;
}

bool console_input_pending(struct console *con)
{
	if (!con)
		return false;
	pthread_mutex_lock(&con->lock);
	bool pending = con->count > 0;
	pthread_mutex_unlock(&con->lock);
	return pending;
}

size_t console_inject(struct console *con, const void *buf, size_t len)
{
	size_t n = console_push(con, buf, len);
	if (n)
		console_notify(con);
	return n;
}

void console_set_input_handler(struct console *con, console_input_fn fn, void *opaque)
{
	if (!con)
		return;
	pthread_mutex_lock(&con->handler_lock);
	con->handler = fn;
	con->handler_opaque = opaque;
	pthread_mutex_unlock(&con->handler_lock);
}

static void console_print_help(void)
{
	/* Raw mode keeps output processing, so "\n" still starts a line. */
	static const char help[] = "\nC-a h    print this help\n"
	                           "C-a x    quit (the guest is powered off)\n"
	                           "C-a C-a  send C-a to the guest\n";
	ssize_t rc = write(STDERR_FILENO, help, sizeof help - 1);
	(void)rc;
}

/* Applies the Ctrl-A escapes in place; returns the bytes left for the guest.
 * Never produces more bytes than it consumed. */
static size_t console_apply_escapes(struct console *con, uint8_t *buf, size_t len)
{
	size_t out = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];
		if (!con->escape_pending) {
			if (c == CTRL_A)
				con->escape_pending = true;
			else
				buf[out++] = c;
			continue;
		}
		con->escape_pending = false;
		switch (c) {
		case 'x':
		case 'X':
			log_info("quit requested from the console (C-a x)");
			if (con->vm)
				vm_request_exit(con->vm, VM_EXIT_POWEROFF, 0);
			break;
		case 'h':
		case 'H':
		case '?': console_print_help(); break;
		case CTRL_A: buf[out++] = CTRL_A; break;
		default: /* unknown escapes are swallowed, as in QEMU */ break;
		}
	}
	return out;
}

static void *console_input_thread(void *arg)
{
	struct console *con = arg;
	for (;;) {
		pthread_mutex_lock(&con->lock);
		while (!con->stop && con->count == CONSOLE_RING_SIZE)
			pthread_cond_wait(&con->room, &con->lock);
		bool stop = con->stop;
		size_t room = CONSOLE_RING_SIZE - con->count;
		pthread_mutex_unlock(&con->lock);
		if (stop)
			break;

		struct pollfd fds[2] = {{.fd = con->in_fd, .events = POLLIN},
		                        {.fd = con->wake[0], .events = POLLIN}};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("console: poll: %s; input stopped", strerror(errno));
			break;
		}
		if (fds[1].revents) {
			char drain[16];
			ssize_t rc = read(con->wake[0], drain, sizeof drain);
			(void)rc;
			continue; /* the loop head checks stop */
		}
		if (fds[0].revents & POLLNVAL)
			break;
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		uint8_t buf[256];
		size_t want = room < sizeof buf ? room : sizeof buf;
		ssize_t n = read(con->in_fd, buf, want);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno != EIO) /* EIO: the terminal hung up */
				log_warn("console: reading input: %s; input stopped",
				         strerror(errno));
			break;
		}
		if (n == 0) /* EOF: the guest just gets no more input */
			break;
		size_t len = con->escapes ? console_apply_escapes(con, buf, (size_t)n) : (size_t)n;
		if (len) {
			console_push(con, buf, len); /* fits: len <= room */
			console_notify(con);
		}
	}
	return NULL;
}

/* ---- Output. ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* write() that turns a closed pipe into EPIPE without killing the process
 * with SIGPIPE, and without touching the process-wide disposition. */
static ssize_t console_write_nosigpipe(struct console *con, const void *buf, size_t len)
{
	if (!con->out_may_epipe)
		return write(con->out_fd, buf, len);
	sigset_t pipe_set, old_set, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE);
	ssize_t n = write(con->out_fd, buf, len);
	int saved_errno = errno;
	if (n < 0 && errno == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	errno = saved_errno;
	return n;
}

static void console_output_lost(struct console *con, const char *why)
{
	con->out_stalled = true;
	if (!con->out_warned) {
		con->out_warned = true;
		log_warn("console: guest output is being dropped (%s)", why);
	}
}

void console_write(struct console *con, const void *data, size_t len)
{
	if (!con || len == 0)
		return;
	const uint8_t *buf = data;
	pthread_mutex_lock(&con->out_lock);
	int64_t deadline = now_ms() + (con->out_stalled ? 0 : CONSOLE_WRITE_TIMEOUT_MS);
	while (len > 0) {
		if (!con->out_is_file) {
			int64_t left = deadline - now_ms();
			struct pollfd p = {.fd = con->out_fd, .events = POLLOUT};
			int rc = poll(&p, 1, left > 0 ? (int)left : 0);
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc == 0) {
				console_output_lost(con, "output blocked for too long");
				break;
			}
		}
		size_t chunk = len < CONSOLE_WRITE_CHUNK ? len : CONSOLE_WRITE_CHUNK;
		ssize_t n = console_write_nosigpipe(con, buf, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && now_ms() < deadline)
				continue; /* non-blocking output: poll again */
			console_output_lost(con, errno == EAGAIN ? "output blocked for too long"
			                                         : strerror(errno));
			break;
		}
		con->out_stalled = false;
		buf += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&con->out_lock);
}

/* ---- Lifetime. ---- */

static struct console *console_alloc(struct vm *vm)
{
	struct console *con = calloc(1, sizeof *con);
	if (!con) {
		log_error("console: out of memory");
		return NULL;
	}
	con->vm = vm;
	con->out_fd = -1;
	con->in_fd = -1;
	con->wake[0] = con->wake[1] = -1;
	pthread_mutex_init(&con->out_lock, NULL);
	pthread_mutex_init(&con->lock, NULL);
	pthread_cond_init(&con->room, NULL);
	pthread_mutex_init(&con->handler_lock, NULL);
	return con;
}

struct console *console_create(struct vm *vm, const char *spec)
{
	struct console *con = console_alloc(vm);
	if (!con)
		return NULL;
	if (spec && strcmp(spec, "stdio") != 0) {
		con->out_fd = open(spec, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (con->out_fd < 0) {
			log_error("console %s: %s", spec, strerror(errno));
			console_destroy(con);
			return NULL;
		}
		con->out_is_file = true;
		return con;
	}

	con->out_fd = STDOUT_FILENO;
	struct stat st;
	con->out_may_epipe =
	    fstat(STDOUT_FILENO, &st) < 0 || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);

	if (fcntl(STDIN_FILENO, F_GETFD) < 0)
		return con; /* no stdin at all: output only */
	con->in_fd = STDIN_FILENO;
	if (isatty(STDIN_FILENO)) {
		con->raw_mode = console_enter_raw_mode();
		con->escapes = true;
	}
	if (pipe2(con->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error("console: pipe: %s", strerror(errno));
		console_destroy(con);
		return NULL;
	}
	int err = pthread_create(&con->thread, NULL, console_input_thread, con);
	if (err) {
		log_error("console: cannot start the input thread: %s", strerror(err));
		console_destroy(con);
		return NULL;
	}
	con->thread_started = true;
	return con;
}

void console_destroy(struct console *con)
{
	if (!con)
		return;
	if (con->thread_started) {
		pthread_mutex_lock(&con->lock);
		con->stop = true;
		pthread_cond_broadcast(&con->room);
		pthread_mutex_unlock(&con->lock);
		ssize_t rc = write(con->wake[1], "x", 1);
		(void)rc;
		pthread_join(con->thread, NULL);
	}
	if (con->raw_mode)
		console_leave_raw_mode();
	for (int i = 0; i < 2; i++)
		if (con->wake[i] >= 0)
			close(con->wake[i]);
	if (con->out_is_file && con->out_fd >= 0 && con->out_fd != STDOUT_FILENO)
		close(con->out_fd);
	pthread_mutex_destroy(&con->out_lock);
	pthread_mutex_destroy(&con->lock);
	pthread_cond_destroy(&con->room);
	pthread_mutex_destroy(&con->handler_lock);
	free(con);
}
