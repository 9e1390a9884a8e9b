#!/bin/sh
# Run inside the USB/IP guest (from its second disk) by /sbin/readerkit-init:
# attach the exported reader through vhci-hcd, start pcscd (libccid), run the
# PC/SC client, print pcscd's log, and leave the result on the console; or, when
# /check/mode says edges, run edges.py on the reader instead of pcscd. The
# host's usbip-serve port is in /check/port.
PORT=$(cat /check/port)
HOST=10.0.2.2
echo "GUEST kernel $(uname -r)"
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via "$HOST"
modprobe vhci-hcd || echo "GUEST modprobe vhci-hcd failed"
/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
usbip --tcp-port "$PORT" list -r "$HOST"
if usbip --tcp-port "$PORT" attach -r "$HOST" -b 1-1; then
    echo "GUEST attached"
else
    echo "GUEST attach failed"
fi
udevadm settle -t 10
sleep 1
# The attached device (the vhci root hubs are 1d6b:xxxx).
for d in /sys/bus/usb/devices/*; do
    [ -f "$d/idVendor" ] && [ "$(cat "$d/idVendor")" != 1d6b ] &&
        echo "GUEST usb $(basename "$d") $(cat "$d/idVendor"):$(cat "$d/idProduct") $(cat "$d/product" 2>/dev/null)"
done
dmesg | grep -E "usb [0-9]-[0-9]|vhci_hcd: " | tail -20
if [ "$(cat /check/mode)" = edges ]; then
    # No pcscd: edges.py drives the reader itself (pyusb, the kernel's usbfs).
    python3 /check/edges.py
    dmesg | grep -E "usb [0-9]-[0-9]|vhci_hcd|usbfs" | tail -20 | sed 's/^/GUEST dmesg /'
    echo "GUEST done"
    exit 0
fi
pcscd --foreground --debug --apdu >/tmp/pcscd.log 2>&1 &
# pcscd is ready for clients when its socket listens (unix-listening.awk, copied
# here from tools/lib/ by usbip-guest.sh, reads the kernel's socket table): its file
# alone is not enough. 30 s is a hang guard, not a fixed sleep.
socket=/run/pcscd/pcscd.comm
tries=0
until awk -v path="$socket" -f /check/unix-listening.awk /proc/net/unix; do
    tries=$((tries + 1))
    if [ "$tries" -gt 300 ]; then
        echo "GUEST pcscd not listening on $socket after 30 s"
        break
    fi
    sleep 0.1
done
python3 /check/client.py
echo "GUEST pcscd log follows (the driver's lines; APDU traffic left out)"
grep -v -E "winscard|APDU: |SW: |hotplug_libudev.c:300|readerfactory.c:8[0-9][0-9]|IFDHTransmitToICC|prothandler|IFDHSetProtocolParameters" /tmp/pcscd.log |
    sed 's/^/PCSCD /' | head -400
echo "GUEST done"
