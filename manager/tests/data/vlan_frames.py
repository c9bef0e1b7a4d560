#!/usr/bin/python3
"""Plays a VM that tags its own frames (802.1Q) from a raw AF_PACKET socket:
this host has no 8021q module for a VLAN subinterface.

Usage:
  vlan_frames.py send IFACE KIND VLAN SRC_MAC ADDR [COUNT [MARKER]]
  vlan_frames.py count IFACE SECONDS MARKER

send writes COUNT (default 1) frames of KIND, tagged with VLAN (0 = untagged):
  dad  DAD Neighbor Solicitation for ADDR (source ::, to its solicited-node group)
  na   unsolicited Neighbor Advertisement claiming ADDR (override, TLLA SRC_MAC)
  udp  UDP datagram from ADDR to ff02::1, port 40000 -> 9, payload MARKER
count prints how many frames carrying MARKER (text, or bytes as hex:...) arrive
on IFACE within SECONDS (prints "ready" first, once the socket is bound).
"""
import ipaddress
import socket
import struct
import sys

from ip6frame import l4_with_sum
import time



def ip6(text):
    return ipaddress.IPv6Address(text).packed



def frame(kind, vlan, mac, addr, marker):
    target = ip6(addr)
    if kind == "dad":
        src = bytes(16)
        dst = ip6("ff02::1:ff00:0")[:13] + target[13:]
        body = struct.pack("!BBHI", 135, 0, 0, 0) + target
        proto, hop, csum_at = 58, 255, 2
    elif kind == "na":
        src, dst = target, ip6("ff02::1")
        body = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + target + bytes([2, 1]) + mac
        proto, hop, csum_at = 58, 255, 2
    else:
        src, dst = target, ip6("ff02::1")
        payload = marker.encode()
        body = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
        proto, hop, csum_at = 17, 64, 6
    body = l4_with_sum(body, csum_at, proto, src, dst)
    packet = struct.pack("!IHBB", 0x60000000, len(body), proto, hop) + src + dst + body
    dst_mac = b"\x33\x33" + dst[12:]
    tag = struct.pack("!HH", 0x8100, vlan) if vlan else b""
    return dst_mac + mac + tag + b"\x86\xdd" + packet


def main():
    if sys.argv[1] == "send":
        iface, kind, vlan, mac, addr = sys.argv[2:7]
        count = int(sys.argv[7]) if len(sys.argv) > 7 else 1
        marker = sys.argv[8] if len(sys.argv) > 8 else "v6g-vlan"
        f = frame(kind, int(vlan), bytes.fromhex(mac.replace(":", "")), addr, marker)
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((iface, 0))
        for _ in range(count):
            s.send(f)
            if count > 50:
                time.sleep(0.001)  # a VM's pace, not a flood (the punt cap is 2000/s)
        return 0
    iface, seconds, marker = sys.argv[2], float(sys.argv[3]), sys.argv[4]
    marker = bytes.fromhex(marker[4:]) if marker.startswith("hex:") else marker.encode()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    s.bind((iface, 0))
    s.settimeout(0.1)
    print("ready", flush=True)
    seen, deadline = 0, time.time() + seconds
    while time.time() < deadline:
        try:
            data = s.recv(65535)
        except socket.timeout:
            continue
        if marker in data:
            seen += 1
    print(seen, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
