/* A Linux guest program for bench/virtio.sh: 4 KiB random reads or writes
 * on a block device, in one process (busybox has nothing that does random
 * I/O without a process per request, which would time fork and exec rather
 * than the disk). bench/virtio.sh builds it with `gcc -static` and puts it
 * in the guest's test initrd.
 *
 *   rio randread|randwrite DEVICE BLOCK COUNT SEED
 *
 * O_DIRECT, so every request reaches the device (not the guest's page
 * cache); offsets are whole blocks, uniformly spread over the device by a
 * xorshift generator from SEED, so both VMMs see the same sequence. Prints
 * "rio: MODE COUNT ops" when every request completed in full. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: rio randread|randwrite DEVICE BLOCK COUNT SEED\n");
		return 2;
	}
	int write_mode = !strcmp(argv[1], "randwrite");
	if (!write_mode && strcmp(argv[1], "randread")) {
		fprintf(stderr, "rio: %s is not randread or randwrite\n", argv[1]);
		return 2;
	}
	size_t block = strtoul(argv[3], NULL, 0);
	long count = strtol(argv[4], NULL, 0);
	uint64_t seed = strtoull(argv[5], NULL, 0) * 0x9E3779B97F4A7C15ULL + 1;
	int fd = open(argv[2], (write_mode ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	if (block == 0 || block % 512 || size < (off_t)block) {
		fprintf(stderr, "rio: block %zu does not fit %s (%lld bytes)\n", block, argv[2],
		        (long long)size);
		return 1;
	}
	uint64_t blocks = (uint64_t)size / block;
	void *buf;
	if (posix_memalign(&buf, 4096, block)) {
		fprintf(stderr, "rio: out of memory\n");
		return 1;
	}
	memset(buf, 0xA5, block);
	for (long i = 0; i < count; i++) {
		off_t off = (off_t)(next(&seed) % blocks * block);
		ssize_t n = write_mode ? pwrite(fd, buf, block, off) : pread(fd, buf, block, off);
		if (n != (ssize_t)block) {
			fprintf(stderr, "rio: request %ld at %lld: %zd bytes\n", i, (long long)off,
			        n);
			return 1;
		}
	}
	if (write_mode && fdatasync(fd)) {
		perror("rio: fdatasync");
		return 1;
	}
	printf("rio: %s %ld ops\n", argv[1], count);
	return 0;
}
