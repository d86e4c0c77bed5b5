#!/bin/sh
# udhcpc's event script for the virtio test (tests/integration/linux_virtio.sh):
# puts the leased address and default route on the interface. busybox's
# udhcpc only reports a lease; configuring the interface is this script's job.
case $1 in
bound | renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	if [ -n "$router" ]; then
		ip route add default via "${router%% *}" dev "$interface"
	fi
	echo "dhcp: $interface $ip/${mask:-24} router ${router:-none} dns ${dns:-none}"
	;;
esac
exit 0
