"""Checksums for the test frame writers (tap_jumbo.py, vlan_frames.py)."""
import struct


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def l4_with_sum(body, csum_at, proto, src, dst):
    """body with its upper-layer checksum (at byte csum_at) over the IPv6 pseudo-header."""
    pseudo = src + dst + struct.pack("!IxxxB", len(body), proto)
    c = checksum(pseudo + body)
    return body[:csum_at] + struct.pack("!H", c) + body[csum_at + 2:]
