/* COM1 at 0x3F8, 115200 8N1, polled; and a small printf for it. */
#include "kernel.h"
#include "x86.h"

#define COM1 0x3f8

void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB: divisor follows */
	outb(COM1 + 0, 0x01); /* 115200 = 115200 / 1 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8 data bits, no parity, 1 stop bit */
	outb(COM1 + 2, 0xc7); /* FIFOs on and cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void serial_putc(char c)
{
	/* Bounded: a missing UART must not hang the kernel. */
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		cpu_relax();
	outb(COM1, (uint8_t)c);
}

struct out {
	char *buf;
	size_t size, len;
};

static void emit(struct out *o, char c)
{
	if (o->buf) {
		if (o->len + 1 < o->size)
			o->buf[o->len] = c;
	} else {
		serial_putc(c); /* plain \n: the readers are scripts, not terminals */
	}
	o->len++;
}

static void format(struct out *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(o, *fmt);
			continue;
		}
		fmt++;
		bool alt = false, zero = false, left = false;
		for (;; fmt++) {
			if (*fmt == '#')
				alt = true;
			else if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		int width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int longs = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			longs++;
			fmt++;
		}
		char tmp[32];
		const char *s = tmp;
		int n = 0;
		uint64_t u;
		bool neg = false;
		switch (*fmt) {
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			n = (int)strlen(s);
			break;
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			n = 1;
			break;
		case 'd':
		case 'i': {
			int64_t x = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			neg = x < 0;
			u = neg ? -(uint64_t)x : (uint64_t)x;
			goto decimal;
		}
		case 'u':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
		decimal:
			n = sizeof(tmp);
			do {
				tmp[--n] = (char)('0' + u % 10);
				u /= 10;
			} while (u);
			if (neg)
				tmp[--n] = '-';
			s = tmp + n;
			n = (int)sizeof(tmp) - n;
			break;
		case 'p':
			alt = true;
			longs = 1;
			/* fall through */
		case 'x':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			n = sizeof(tmp);
			do {
				tmp[--n] = "0123456789abcdef"[u & 15];
				u >>= 4;
			} while (u);
			if (alt) {
				tmp[--n] = 'x';
				tmp[--n] = '0';
			}
			s = tmp + n;
			n = (int)sizeof(tmp) - n;
			break;
		case '%':
			tmp[0] = '%';
			n = 1;
			break;
		default: return;
		}
		if (!left)
			for (int i = n; i < width; i++)
				emit(o, zero ? '0' : ' ');
		for (int i = 0; i < n; i++)
			emit(o, s[i]);
		if (left)
			for (int i = n; i < width; i++)
				emit(o, ' ');
	}
}

void kprintf(const char *fmt, ...)
{
	struct out o = {0};
	va_list ap;
	va_start(ap, fmt);
	format(&o, fmt, ap);
	va_end(ap);
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};
	format(&o, fmt, ap);
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return (int)o.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
