/* virtio-blk (virtio 1.2, 5.2) backed by a raw image file or a host block
 * device: read, write, flush, discard, write zeroes and get-id, with several
 * requests in flight. The I/O itself runs on the device's I/O thread through
 * io_uring, straight between the file and guest RAM.
 *
 * `ringfold run --disk FILE[,ro][,cache=none|writeback]`:
 *   ro               read-only: VIRTIO_BLK_F_RO, and writes fail with IOERR
 *   cache=writeback  (default) the host page cache; a flush is fdatasync()
 *   cache=none       O_DIRECT; a request whose buffers are not aligned as the
 *                    file needs goes through an aligned bounce buffer (or the
 *                    page cache, when its offset is not aligned either, or it
 *                    is large); a flush is still fdatasync()
 * Either way a flush completes only after fdatasync() returned: once the
 * guest sees it, what it wrote before is on the host file (ringfold being
 * killed afterwards loses none of it).
 *
 * The image is locked (flock: exclusive, shared for ro) so two VMs cannot
 * write one image. Capacity is the file size in 512-byte sectors; a tail
 * that is not a whole sector is not visible. The serial number (GET_ID) is
 * the file's name, or, when that is longer than 20 bytes, its first 11
 * bytes and a hash of the device and inode numbers. */
#ifndef RINGFOLD_DEV_VIRTIO_VIRTIO_BLK_H
#define RINGFOLD_DEV_VIRTIO_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct virtio_blk;

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_WZ_UNMAP 1 /* write-zeroes segment flag */

/* struct virtio_blk_config offsets. */
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SIZE_MAX 8
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_DISCARD_ALIGNMENT 44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 52
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP 56
#define VIRTIO_BLK_CFG_LEN 60

#define VIRTIO_BLK_SECTOR 512
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SIZE_MAX (1u << 20) /* bytes per buffer the driver is told */
/* Largest request served; larger ones fail with IOERR. It is above what a
 * driver that respects seg_max and size_max can build. */
#define VIRTIO_BLK_MAX_REQUEST (256ULL << 20)

struct virtio_blk_options {
	char *path; /* allocated */
	bool readonly;
	bool direct; /* cache=none */
};

/* Parses "FILE[,ro][,cache=none|writeback]" (also ",rw"); 0, or -1 with a
 * message in err. Free with virtio_blk_options_free(). */
int virtio_blk_parse(const char *spec, struct virtio_blk_options *opt, char *err, size_t err_len);
void virtio_blk_options_free(struct virtio_blk_options *opt);

/* Opens the image and puts the device on the PCI bus; NULL after logging. */
struct virtio_blk *virtio_blk_create(struct vm *vm, const char *spec);
void virtio_blk_destroy(struct virtio_blk *blk);

#endif
