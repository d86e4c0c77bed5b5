# The default Linux guest that `ringfold run` boots without --kernel: Debian's
# stock kernel and a busybox initramfs with /init from guest/linux/init, in
# $(BUILD)/guest-linux/ (vmlinuz, initramfs.cpio.gz). tools/make-guest.sh
# fetches the packages once (apt-get download, cached in $(BUILD)/debian and
# $(BUILD)/guest-linux/dl) and rebuilds the image only when an input changed,
# so the target always runs the script and the script decides.
.PHONY: guest-linux
guest-linux:
	@BUILD=$(BUILD) bash tools/make-guest.sh

guest: guest-linux
