/* The 16550A UART driven as Linux's 8250 driver drives it, and the host
 * console behind it (file output, input with back-pressure, raw mode and its
 * restoration through a pseudo-terminal, the Ctrl-A escapes). */
#include "test.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "dev/serial.h"
#include "vm.h"

#define COM1 0x3F8
#define RBR 0
#define THR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#include "fake_engine.h"

struct rig {
	struct vm vm;
	struct serial *serial;
	struct console *con;
	char path[64];
};

/* A UART on COM1 with a file console (output to a temporary file, input only
 * by console_inject). */
static struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof *r);
	r->vm.bus = bus_create();
	r->vm.engine = &fake_engine;
	fake_engine_reset();
	snprintf(r->path, sizeof r->path, "/tmp/ringfold-serial-XXXXXX");
	int fd = mkstemp(r->path);
	close(fd);
	r->con = console_create(&r->vm, r->path);
	r->serial = serial_create(&r->vm, COM1, SERIAL_COM1_GSI, r->con);
	return r;
}

static void rig_free(struct rig *r)
{
	serial_destroy(r->serial);
	console_destroy(r->con);
	unlink(r->path);
	bus_destroy(r->vm.bus);
	free(r);
}

static uint8_t in(struct rig *r, unsigned reg)
{
	return (uint8_t)bus_read(r->vm.bus, BUS_PIO, COM1 + reg, 1);
}

static void out(struct rig *r, unsigned reg, uint8_t v)
{
	bus_write(r->vm.bus, BUS_PIO, COM1 + reg, 1, v);
}

static size_t file_contents(struct rig *r, char *buf, size_t len)
{
	int fd = open(r->path, O_RDONLY);
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? (size_t)n : 0;
}

/* drivers/tty/serial/8250: autoconfig() and autoconfig_16550a(). */
static void test_linux_probe_sequence(void)
{
	struct rig *r = rig_new();
	CHECK(r->serial != NULL);
	/* IER scratch test. */
	out(r, IER, 0);
	CHECK_EQ(in(r, IER) & 0x0F, 0);
	out(r, IER, 0x0F);
	CHECK_EQ(in(r, IER) & 0x0F, 0x0F);
	out(r, IER, 0);
	/* Loopback test: MCR = LOOP | OUT2 | RTS gives MSR = DCD | CTS. */
	uint8_t save_mcr = in(r, MCR);
	out(r, MCR, 0x1A);
	CHECK_EQ(in(r, MSR) & 0xF0, 0x90);
	out(r, MCR, save_mcr);
	/* FIFO detection: IIR bits 7:6 = 3 means a 16550A. */
	out(r, LCR, 0);
	out(r, FCR, 0x01);
	CHECK_EQ(in(r, IIR) >> 6, 3);
	/* No 64-byte FIFO (that would be a 16750). */
	out(r, FCR, 0x01 | 0x20);
	CHECK_EQ((in(r, IIR) >> 5) & 1, 0);
	/* The divisor latch. */
	out(r, LCR, 0x80);
	out(r, 0, 0x01);
	out(r, 1, 0x00);
	CHECK_EQ(in(r, 0), 0x01);
	CHECK_EQ(in(r, 1), 0x00);
	out(r, LCR, 0x03);
	CHECK_EQ(in(r, LCR), 0x03);
	CHECK_EQ(in(r, IER), 0); /* DLAB off: IER again */
	/* Scratch register. */
	out(r, SCR, 0xA5);
	CHECK_EQ(in(r, SCR), 0xA5);
	/* Line status: transmitter empty, nothing received. */
	CHECK_EQ(in(r, LSR), 0x60);
	rig_free(r);
}

static void test_transmit_goes_to_console(void)
{
	struct rig *r = rig_new();
	const char *msg = "Linux version\r\n";
	for (const char *p = msg; *p; p++) {
		while (!(in(r, LSR) & 0x20))
			;
		out(r, THR, (uint8_t)*p);
	}
	char buf[64];
	file_contents(r, buf, sizeof buf);
	CHECK(strcmp(buf, msg) == 0);
	rig_free(r);
}

static void test_loopback_echoes_and_stays_off_console(void)
{
	struct rig *r = rig_new();
	out(r, FCR, 0xC7);
	out(r, MCR, 0x10 | 0x08);
	out(r, IER, 0x01);
	out(r, THR, 'Q');
	CHECK(in(r, LSR) & 0x01);
	CHECK_EQ(in(r, IIR) & 0x0F, 0x0C);        /* data below the trigger level */
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 0); /* loopback keeps the line off */
	CHECK_EQ(in(r, RBR), 'Q');
	CHECK(!(in(r, LSR) & 0x01));
	char buf[16];
	CHECK_EQ(file_contents(r, buf, sizeof buf), 0);
	/* MSR follows MCR in loopback, with deltas. */
	in(r, MSR);
	out(r, MCR, 0x10 | 0x01); /* DTR -> DSR, OUT2 off -> DCD off */
	uint8_t msr = in(r, MSR);
	CHECK_EQ(msr & 0xF0, 0x20);
	CHECK(msr & 0x02);              /* DDSR */
	CHECK(msr & 0x08);              /* DDCD */
	CHECK_EQ(in(r, MSR) & 0x0F, 0); /* deltas clear on read */
	/* Out of loopback: the console's lines are all up again. */
	out(r, MCR, 0x0B);
	CHECK_EQ(in(r, MSR) & 0xF0, 0xB0);
	rig_free(r);
}

/* serial8250_do_startup(): the THRE interrupt test, which re-enables THRI
 * and expects the interrupt to be raised again. */
static void test_thre_interrupt_as_linux_expects(void)
{
	struct rig *r = rig_new();
	out(r, FCR, 0x01);
	out(r, MCR, 0x0B); /* DTR | RTS | OUT2 */
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 0);
	out(r, IER, 0x02);
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 1);
	uint8_t iir1 = in(r, IIR);
	CHECK_EQ(iir1, 0xC2);
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 0); /* reading IIR acknowledged it */
	CHECK_EQ(in(r, IIR) & 0x01, 1);
	out(r, IER, 0);
	out(r, IER, 0x02);
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 1);
	CHECK_EQ(in(r, IIR) & 0x0F, 0x02);
	/* Writing THR re-arms it once the byte has gone. */
	out(r, THR, 'x');
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 1);
	/* A status read does not touch the line: no redundant set_irq. */
	int calls = fake.irq_calls;
	for (int i = 0; i < 10; i++)
		in(r, LSR);
	CHECK_EQ(fake.irq_calls, calls);
	out(r, IER, 0);
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 0);
	rig_free(r);
}

static void test_out2_gates_irq(void)
{
	struct rig *r = rig_new();
	out(r, IER, 0x02); /* THRE pending */
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 0);
	CHECK_EQ(in(r, IIR) & 0x0F, 0x02); /* pending, but the PC's gate is shut */
	out(r, IER, 0);
	out(r, IER, 0x02);
	out(r, MCR, 0x08);
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 1);
	out(r, MCR, 0x00);
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 0);
	out(r, MCR, 0x08);
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 1);
	rig_free(r);
}

static void test_receive_from_console(void)
{
	struct rig *r = rig_new();
	out(r, FCR, 0xC7); /* FIFO on, trigger 14 */
	out(r, MCR, 0x0B);
	out(r, IER, 0x01);
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 0);
	CHECK_EQ(console_inject(r->con, "hello", 5), 5);
	/* The console told the UART: the interrupt is up without any access. */
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 1);
	CHECK_EQ(in(r, IIR), 0xCC); /* character timeout: below the trigger */
	char got[6] = {0};
	for (int i = 0; i < 5; i++) {
		CHECK(in(r, LSR) & 0x01);
		got[i] = (char)in(r, RBR);
	}
	CHECK(strcmp(got, "hello") == 0);
	CHECK(!(in(r, LSR) & 0x01));
	CHECK_EQ(fake.level[SERIAL_COM1_GSI], 0);
	/* At the trigger level it is "received data available". */
	console_inject(r->con, "0123456789abcdef", 16);
	CHECK_EQ(in(r, IIR), 0xC4);
	rig_free(r);
}

static void test_no_input_is_dropped(void)
{
	struct rig *r = rig_new();
	out(r, FCR, 0x01);
	uint8_t data[1000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	CHECK_EQ(console_inject(r->con, data, sizeof data), sizeof data);
	size_t n = 0;
	bool ok = true;
	while (in(r, LSR) & 0x01) {
		uint8_t b = in(r, RBR);
		if (n >= sizeof data || b != data[n])
			ok = false;
		n++;
	}
	CHECK(ok);
	CHECK_EQ(n, sizeof data);
	CHECK(!(in(r, LSR) & 0x02)); /* no overrun */
	/* Without FIFOs the holding register takes one byte at a time. */
	out(r, FCR, 0x00);
	console_inject(r->con, "ab", 2);
	CHECK_EQ(in(r, IIR), 0x01);
	CHECK_EQ(in(r, RBR), 'a');
	CHECK_EQ(in(r, RBR), 'b');
	rig_free(r);
}

static void test_interrupt_priorities(void)
{
	struct rig *r = rig_new();
	out(r, FCR, 0x01); /* trigger level 1 */
	out(r, MCR, 0x10); /* loopback */
	out(r, IER, 0x0F);
	/* Overrun: 17 bytes into a 16-byte FIFO. */
	for (int i = 0; i < 17; i++)
		out(r, THR, (uint8_t)('A' + i));
	out(r, MCR, 0x11);          /* DTR: a modem status change as well */
	CHECK_EQ(in(r, IIR), 0xC6); /* line status first */
	uint8_t lsr = in(r, LSR);
	CHECK(lsr & 0x02);
	CHECK(lsr & 0x01);
	CHECK_EQ(in(r, IIR), 0xC4); /* then received data */
	for (int i = 0; i < 16; i++)
		CHECK_EQ(in(r, RBR), 'A' + i);
	CHECK_EQ(in(r, IIR), 0xC2); /* then THR empty, cleared by this read */
	CHECK_EQ(in(r, IIR), 0xC0); /* then modem status */
	in(r, MSR);
	CHECK_EQ(in(r, IIR), 0xC1);
	rig_free(r);
}

static void test_fcr_clears_fifo(void)
{
	struct rig *r = rig_new();
	out(r, FCR, 0x01);
	out(r, MCR, 0x10);
	out(r, THR, 1);
	out(r, THR, 2);
	out(r, FCR, 0x03);
	CHECK(!(in(r, LSR) & 0x01));
	out(r, THR, 3);
	out(r, FCR, 0x00); /* leaving FIFO mode empties it too */
	CHECK(!(in(r, LSR) & 0x01));
	rig_free(r);
}

static void test_wide_accesses_are_byte_accesses(void)
{
	struct rig *r = rig_new();
	bus_write(r->vm.bus, BUS_PIO, COM1 + 6, 2, 0x5A00); /* MSR ignored, SCR = 0x5A */
	CHECK_EQ(in(r, SCR), 0x5A);
	/* A word read at LSR returns LSR and MSR. */
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, COM1 + 5, 2), 0xB060);
	CHECK_EQ(bus_read(r->vm.bus, BUS_PIO, COM1 + 7, 4) & 0xFF, 0x5A);
	rig_free(r);
}

/* ---- Console: terminal handling in a forked child with a pseudo-terminal. */

static bool same_termios(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
	       a->c_lflag == b->c_lflag && memcmp(a->c_cc, b->c_cc, sizeof a->c_cc) == 0;
}

enum child_end { END_EXIT, END_RETURN_DESTROY, END_SIGTERM, END_SIGHUP };

/* The child puts the pty in raw mode through a console and ends as told;
 * exit status 3 means raw mode was not applied. */
static void run_pty_child(int slave, enum child_end how, int *status)
{
	fflush(NULL); /* the child must not flush our buffered output again */
	pid_t pid = fork();
	if (pid == 0) {
		dup2(slave, STDIN_FILENO);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, STDOUT_FILENO);
		static struct vm vm;
		vm.engine = &fake_engine;
		struct console *con = console_create(&vm, "stdio");
		struct termios t;
		tcgetattr(STDIN_FILENO, &t);
		if (!con || (t.c_lflag & (ECHO | ICANON | ISIG)))
			_exit(3);
		switch (how) {
		case END_EXIT: exit(0);
		case END_RETURN_DESTROY:
			console_destroy(con);
			tcgetattr(STDIN_FILENO, &t);
			_exit((t.c_lflag & ECHO) ? 0 : 4);
		case END_SIGTERM: raise(SIGTERM); _exit(5);
		case END_SIGHUP:
			kill(getpid(), SIGHUP);
			sleep(5);
			_exit(5);
		}
		_exit(6);
	}
	waitpid(pid, status, 0);
}

static void test_raw_mode_restored_on_every_exit_path(void)
{
	static const enum child_end ends[] = {END_EXIT, END_RETURN_DESTROY, END_SIGTERM,
	                                      END_SIGHUP};
	for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
		int master, slave;
		CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0);
		struct termios before, after;
		tcgetattr(slave, &before);
		CHECK(before.c_lflag & ECHO);
		int status = 0;
		run_pty_child(slave, ends[i], &status);
		tcgetattr(slave, &after);
		CHECK(same_termios(&before, &after));
		switch (ends[i]) {
		case END_EXIT:
		case END_RETURN_DESTROY:
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			break;
		case END_SIGTERM: CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM); break;
		case END_SIGHUP: CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP); break;
		}
		close(master);
		close(slave);
	}
}

static int child_kicks;
static void child_kick(struct vm *vm)
{
	child_kicks++;
}
static const struct engine_ops child_engine = {.name = "child", .kick = child_kick};

/* Reads n console bytes within a few seconds. */
static size_t read_console(struct console *con, uint8_t *buf, size_t n)
{
	size_t got = 0;
	for (int tries = 0; tries < 3000 && got < n; tries++) {
		got += console_read(con, buf + got, n - got);
		if (got < n)
			usleep(1000);
	}
	return got;
}

static void test_terminal_escapes(void)
{
	int master, slave;
	CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(master);
		dup2(slave, STDIN_FILENO);
		static struct vm vm;
		vm.engine = &child_engine;
		struct console *con = console_create(&vm, "stdio");
		if (!con)
			_exit(10);
		/* Tell the parent we are in raw mode, then take its input. */
		if (write(slave, "", 0) < 0)
			_exit(11);
		uint8_t buf[8] = {0};
		if (read_console(con, buf, 4) != 4 || memcmp(buf,
		                                             "a\x01"
		                                             "bc",
		                                             4) != 0)
			_exit(12);
		for (int i = 0; i < 3000 && !vm_exit_requested(&vm); i++)
			usleep(1000);
		if (atomic_load(&vm.exit_kind) != VM_EXIT_POWEROFF || vm.exit_code != 0)
			_exit(13);
		console_destroy(con);
		_exit(0);
	}
	/* Wait for raw mode, so the line discipline does not eat ^A or wait
	 * for a newline. */
	for (int i = 0; i < 3000; i++) {
		struct termios t;
		tcgetattr(slave, &t);
		if (!(t.c_lflag & ICANON))
			break;
		usleep(1000);
	}
	/* C-a C-a is a literal C-a; C-a z is swallowed; C-a x quits. */
	const char keys[] = "a\x01\x01"
	                    "b\x01zc\x01x";
	CHECK(write(master, keys, sizeof keys - 1) == (ssize_t)(sizeof keys - 1));
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	close(master);
	close(slave);
}

/* Not a terminal: input passes through untouched and EOF just ends it. */
static void test_pipe_input_passes_through(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		dup2(p[0], STDIN_FILENO);
		static struct vm vm;
		vm.engine = &child_engine;
		struct console *con = console_create(&vm, "stdio");
		if (!con)
			_exit(10);
		uint8_t buf[8] = {0};
		if (read_console(con, buf, 4) != 4 || memcmp(buf, "\x01x\x01\x01", 4) != 0)
			_exit(12);
		usleep(50000);
		if (vm_exit_requested(&vm) || console_input_pending(con))
			_exit(13);
		console_destroy(con);
		_exit(0);
	}
	close(p[0]);
	CHECK(write(p[1], "\x01x\x01\x01", 4) == 4);
	close(p[1]); /* EOF */
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/* stdout is a pipe nobody reads: writes give up after a bounded wait. */
static void test_stalled_output_does_not_block_forever(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		int devnull = open("/dev/null", O_RDONLY | O_WRONLY);
		dup2(devnull, STDERR_FILENO); /* the one-time warning */
		int devnull_in = open("/dev/null", O_RDONLY);
		dup2(devnull_in, STDIN_FILENO);
		struct console *con = console_create(NULL, "stdio");
		if (!con)
			_exit(10);
		static uint8_t big[256 * 1024];
		memset(big, 'z', sizeof big);
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		console_write(con, big, sizeof big);
		for (int i = 0; i < 1000; i++)
			console_write(con, "more", 4);
		clock_gettime(CLOCK_MONOTONIC, &b);
		console_destroy(con);
		_exit(b.tv_sec - a.tv_sec < 10 ? 0 : 11);
	}
	int status = 0;
	waitpid(pid, &status, 0); /* the pipe is never read */
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	close(p[0]);
	close(p[1]);
}

/* The reader disappears: no SIGPIPE death, output is just dropped. */
static void test_closed_output_pipe_is_survived(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	close(p[0]);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, STDERR_FILENO);
		dup2(devnull, STDIN_FILENO);
		struct console *con = console_create(NULL, "stdio");
		if (!con)
			_exit(10);
		console_write(con, "x", 1);
		console_write(con, "y", 1);
		console_destroy(con);
		_exit(0);
	}
	close(p[1]);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/* Bytes arriving on stdin raise the UART's interrupt from the console's
 * thread, with no guest access in between, and are then read in order. */
static void test_stdin_reaches_guest_with_interrupt(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		dup2(p[0], STDIN_FILENO);
		static struct vm vm;
		vm.bus = bus_create();
		vm.engine = &fake_engine;
		fake.level[SERIAL_COM1_GSI] = 0;
		struct console *con = console_create(&vm, "stdio");
		struct serial *s = serial_create(&vm, COM1, SERIAL_COM1_GSI, con);
		if (!con || !s)
			_exit(10);
		bus_write(vm.bus, BUS_PIO, COM1 + FCR, 1, 0x01);
		bus_write(vm.bus, BUS_PIO, COM1 + MCR, 1, 0x08);
		bus_write(vm.bus, BUS_PIO, COM1 + IER, 1, 0x01);
		if (fake.level[SERIAL_COM1_GSI] != 0)
			_exit(11);
		for (int i = 0;
		     i < 3000 && !__atomic_load_n(&fake.level[SERIAL_COM1_GSI], __ATOMIC_SEQ_CST);
		     i++)
			usleep(1000);
		if (!__atomic_load_n(&fake.level[SERIAL_COM1_GSI], __ATOMIC_SEQ_CST))
			_exit(12);
		char got[64] = {0};
		size_t n = 0;
		for (int i = 0; i < 3000 && n < 40; i++) {
			while (n < 40 && (bus_read(vm.bus, BUS_PIO, COM1 + LSR, 1) & 0x01))
				got[n++] = (char)bus_read(vm.bus, BUS_PIO, COM1 + RBR, 1);
			if (n < 40)
				usleep(1000);
		}
		if (n != 40 || memcmp(got, "0123456789abcdefghijklmnopqrstuvwxyzABCD", 40) != 0)
			_exit(13);
		serial_destroy(s);
		console_destroy(con);
		bus_destroy(vm.bus);
		_exit(0);
	}
	close(p[0]);
	usleep(20000);
	CHECK(write(p[1], "0123456789abcdefghijklmnopqrstuvwxyzABCD", 40) == 40);
	int status = 0;
	waitpid(pid, &status, 0);
	close(p[1]);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

static void test_console_file_appends(void)
{
	char path[] = "/tmp/ringfold-console-XXXXXX";
	int fd = mkstemp(path);
	CHECK(write(fd, "old\n", 4) == 4);
	close(fd);
	struct console *con = console_create(NULL, path);
	CHECK(con != NULL);
	console_write(con, "new\n", 4);
	uint8_t b;
	CHECK_EQ(console_read(con, &b, 1), 0); /* no input */
	console_destroy(con);
	char buf[32] = {0};
	fd = open(path, O_RDONLY);
	CHECK(read(fd, buf, sizeof buf - 1) == 8);
	close(fd);
	CHECK(strcmp(buf, "old\nnew\n") == 0);
	unlink(path);
	CHECK(console_create(NULL, "/nonexistent-dir/console") == NULL);
}

int main(void)
{
	RUN(test_linux_probe_sequence);
	RUN(test_transmit_goes_to_console);
	RUN(test_loopback_echoes_and_stays_off_console);
	RUN(test_thre_interrupt_as_linux_expects);
	RUN(test_out2_gates_irq);
	RUN(test_receive_from_console);
	RUN(test_no_input_is_dropped);
	RUN(test_interrupt_priorities);
	RUN(test_fcr_clears_fifo);
	RUN(test_wide_accesses_are_byte_accesses);
	RUN(test_raw_mode_restored_on_every_exit_path);
	RUN(test_terminal_escapes);
	RUN(test_pipe_input_passes_through);
	RUN(test_stalled_output_does_not_block_forever);
	RUN(test_closed_output_pipe_is_survived);
	RUN(test_stdin_reaches_guest_with_interrupt);
	RUN(test_console_file_appends);
	TEST_DONE();
}
