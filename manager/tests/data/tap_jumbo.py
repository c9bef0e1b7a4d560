#!/usr/bin/python3
"""Writes IPv6 jumbo frames into a tap the way a guest's virtio-net does.

Usage: tap_jumbo.py TAP   (then, per line on stdin: KIND SRC_MAC SRC DST HDR_LEN COUNT)

Opens TAP (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, created if missing), prints
"ready", and for each stdin line writes COUNT frames of KIND:
  ra     a 5000-byte router advertisement (prefix 2001:db8:bad::/64)
  dhcp   a 5000-byte DHCPv6 reply, UDP 547 -> 546
  udp    a 5000-byte UDP datagram, 40000 -> 9
  hbh_ra the RA behind a hop-by-hop options header
  hbh_udp the UDP datagram behind a hop-by-hop options header
each behind a virtio-net header whose hdr_len is HDR_LEN. Frames larger than
a page with a small hdr_len leave the IPv6 header in the skb's page
fragments (tun_get_user), as a guest can. Prints "sent N" per line.
"""
import fcntl
import os
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def padding_options(length):  # unknown ND options (type 200): receivers skip them
    out = b""
    while length > 0:
        n = min(length, 2040)
        out += bytes([200, n // 8]) + b"\0" * (n - 2)
        length -= n
    return out


def frame(kind, src_mac, src, dst):
    size = 5000
    if kind in ("ra", "hbh_ra"):
        body = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
        body += struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0)
        body += bytes.fromhex("20010db80bad00000000000000000000")
        pad = size - len(body)
        body += padding_options(pad - pad % 8)
        proto, csum_at = 58, 2
    elif kind == "dhcp":
        payload = b"\x07" + b"\0" * (size - 9)
        body = struct.pack("!HHHH", 547, 546, 8 + len(payload), 0) + payload
        proto, csum_at = 17, 6
    else:
        payload = b"\0" * (size - 8)
        body = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
        proto, csum_at = 17, 6
    pseudo = src + dst + struct.pack("!IxxxB", len(body), proto)
    c = checksum(pseudo + body)
    body = body[:csum_at] + struct.pack("!H", c) + body[csum_at + 2:]
    next_header = proto
    if kind in ("hbh_ra", "hbh_udp"):  # router alert option, then the RA/UDP
        body = struct.pack("!BBBBBBBB", proto, 0, 5, 2, 0, 0, 1, 0) + body
        next_header = 0
    ip6 = struct.pack("!IHBB", 0x60000000, len(body), next_header, 255) + src + dst
    dst_mac = bytes.fromhex("333300000001") if dst[0] == 0xFF else bytes.fromhex("020000000002")
    return dst_mac + src_mac + b"\x86\xdd" + ip6 + body


def main():
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", sys.argv[1].encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    print("ready", flush=True)
    for line in sys.stdin:
        kind, mac, src, dst, hdr_len, count = line.split()
        f = frame(kind, bytes.fromhex(mac.replace(":", "")),
                  socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))
        vnet = struct.pack("<BBHHHH", 0, 0, int(hdr_len), 0, 0, 0)
        for _ in range(int(count)):
            os.write(fd, vnet + f)
        print("sent", count, flush=True)


if __name__ == "__main__":
    main()
