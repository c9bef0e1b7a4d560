// IPv6 first-hop parser: Ethernet (+802.1Q/QinQ), IPv6, the extension-header
// chain, ICMPv6 (checksum, ND, MLD), DHCPv6 and tunnel detection. Pure
// functions over the frame bytes; every rejection is a uapi reason. Policy
// (block fragments, rate limits...) is the guard's job, not ours: we only
// reject what the RFCs say must never be accepted.
#include <algorithm>
#include <cstring>

#include "packet/packet.h"
#include "packet/reader.h"

namespace v6g::packet {
namespace {

using R = Result<ParsedPacket>;

constexpr std::size_t kIpv6HeaderLen = 40;
constexpr std::uint16_t kDhcpv6ClientPort = 546;
constexpr std::uint16_t kDhcpv6ServerPort = 547;
constexpr std::uint16_t kTeredoPort = 3544;
constexpr std::uint8_t kHbhOptPad1 = 0;
constexpr std::uint8_t kHbhOptRouterAlert = 5;

enum : std::uint8_t {
  kNdOptSlla = 1,
  kNdOptTlla = 2,
  kNdOptPrefixInfo = 3,
  kNdOptMtu = 5,
  kNdOptNonce = 14,
  kNdOptRouteInfo = 24,
  kNdOptRdnss = 25,
  kNdOptDnssl = 31,
};

bool is_nd_type(std::uint8_t type) { return type >= kNdRouterSolicit && type <= kNdRedirect; }

bool is_mld_type(std::uint8_t type) {
  return type == kMldQuery || type == kMldV1Report || type == kMldV1Done || type == kMldV2Report;
}

// Extension headers that share the generic (next header, length in 8-octet
// units beyond the first) layout (RFC 7045 list minus fragment/AH/ESP).
bool is_generic_ext_header(std::uint8_t nh) {
  return nh == kProtoHopByHop || nh == kProtoDestOpts || nh == kProtoRouting ||
         nh == kProtoMobility || nh == kProtoHip || nh == kProtoShim6;
}

bool read_addr(Reader& r, Ip6Addr& out) { return r.read_bytes(out.bytes); }

Ip6Prefix make_prefix(const Ip6Addr& addr, std::uint8_t len) {
  Ip6Prefix p;
  p.len = std::min<std::uint8_t>(len, 128);
  for (std::size_t i = 0; i < 16; ++i) {
    const int bits = std::clamp(static_cast<int>(p.len) - static_cast<int>(i) * 8, 0, 8);
    const auto mask = static_cast<std::uint8_t>(bits == 0 ? 0 : 0xff << (8 - bits));
    p.addr.bytes[i] = addr.bytes[i] & mask;
  }
  return p;
}

// RFC 4443 2.3 / RFC 8200 8.1: one's-complement sum over the pseudo-header
// (source, destination, upper-layer length, next header 58) and the message.
// Returns true when the stored checksum is correct.
bool icmpv6_checksum_ok(const Ip6Addr& src, const Ip6Addr& dst, Bytes msg) {
  // Sum big-endian 32-bit words into 64 bits and fold at the end: the same
  // one's-complement sum as 16-bit words (RFC 1071), a quarter of the adds.
  auto be32 = [](const void* at) {
    std::uint32_t v = 0;
    std::memcpy(&v, at, sizeof v);
    return __builtin_bswap32(v);
  };
  std::uint64_t sum = msg.size() + kProtoIcmpv6;
  for (std::size_t i = 0; i < 16; i += 4)
    sum += be32(src.bytes.data() + i) + std::uint64_t{be32(dst.bytes.data() + i)};
  const auto* p = reinterpret_cast<const std::uint8_t*>(msg.data());
  std::size_t i = 0;
  for (; i + 4 <= msg.size(); i += 4) sum += be32(p + i);
  for (; i < msg.size(); ++i) sum += std::uint32_t{p[i]} << (((i & 1) == 0) ? 8 : 0);
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

// Hop-by-hop options: walk TLVs for the Router Alert option (MLD needs it).
// Unknown TLVs are left to the receiving host (RFC 8200 4.2), but an option
// running past its header is a truncated header.
bool scan_hop_by_hop(Bytes opts, ExtHeaders& ext) {
  Reader r(opts);
  while (r.remaining() > 0) {
    std::uint8_t type = 0;
    std::uint8_t len = 0;
    if (!r.read_u8(type)) return false;
    if (type == kHbhOptPad1) continue;
    if (!r.read_u8(len)) return false;
    if (type == kHbhOptRouterAlert && len == 2) {
      std::uint16_t value = 0;
      if (!r.read_u16(value)) return false;
      ext.router_alert = true;
      ext.router_alert_value = value;
      continue;
    }
    if (!r.skip(len)) return false;
  }
  return true;
}

// ND options (RFC 4861 4.6 and friends). Option length 0 or an option
// running past the message is fatal (RFC 4861 6.1: "all included options
// have a length that is greater than zero"); known options with an impossible
// length for their type are rejected the same way.
v6g_reason parse_nd_options(Reader r, NdOptions& o) {
  while (r.remaining() > 0) {
    std::uint8_t type = 0;
    std::uint8_t units = 0;
    if (!r.read_u8(type) || !r.read_u8(units)) return V6G_R_ND_OPTION_LENGTH;
    const std::size_t body_len = std::size_t{units} * 8;
    if (units == 0 || !r.has(body_len - 2)) return V6G_R_ND_OPTION_LENGTH;
    Bytes body_span;
    (void)r.read_span(body_len - 2, body_span);
    Reader b(body_span);
    switch (type) {
      case kNdOptSlla:
      case kNdOptTlla: {
        MacAddr mac;
        if (!b.read_bytes(mac.bytes)) return V6G_R_ND_OPTION_LENGTH;
        if (type == kNdOptSlla) {
          o.has_slla = true;
          o.slla = mac;
        } else {
          o.has_tlla = true;
          o.tlla = mac;
        }
        break;
      }
      case kNdOptPrefixInfo: {
        if (units != 4) return V6G_R_ND_OPTION_LENGTH;
        std::uint8_t plen = 0;
        std::uint8_t flags = 0;
        PrefixInfo pi;
        Ip6Addr addr;
        (void)(b.read_u8(plen) && b.read_u8(flags) && b.read_u32(pi.valid_lifetime) &&
               b.read_u32(pi.preferred_lifetime) && b.skip(4) && read_addr(b, addr));
        pi.on_link = (flags & 0x80) != 0;
        pi.autonomous = (flags & 0x40) != 0;
        pi.prefix = make_prefix(addr, plen);
        o.prefixes.push(pi);
        break;
      }
      case kNdOptMtu: {
        if (units != 1) return V6G_R_ND_OPTION_LENGTH;
        (void)(b.skip(2) && b.read_u32(o.mtu));
        o.has_mtu = true;
        break;
      }
      case kNdOptNonce: {
        if (!b.read_bytes(o.nonce)) return V6G_R_ND_OPTION_LENGTH;
        o.has_nonce = true;
        break;
      }
      case kNdOptRouteInfo: {
        // RFC 4191 2.3: length 1..3 depending on the prefix length.
        std::uint8_t plen = 0;
        std::uint8_t flags = 0;
        RouteInfo ri;
        if (units > 3 || !b.read_u8(plen) || !b.read_u8(flags) || !b.read_u32(ri.lifetime) ||
            plen > 128 || (plen > 64 && units < 3) || (plen > 0 && units < 2))
          return V6G_R_ND_OPTION_LENGTH;
        Ip6Addr addr;
        (void)b.read_bytes(std::span(addr.bytes.data(), b.remaining()));
        ri.preference = static_cast<std::uint8_t>((flags >> 3) & 3);
        ri.prefix = make_prefix(addr, plen);
        o.routes.push(ri);
        break;
      }
      case kNdOptRdnss: {
        // RFC 8106 5.1: length 3 + 2 per extra address (odd, >= 3).
        if (units < 3 || (units % 2) == 0) return V6G_R_ND_OPTION_LENGTH;
        (void)(b.skip(2) && b.read_u32(o.rdnss_lifetime));
        Ip6Addr addr;
        while (read_addr(b, addr)) o.rdnss.push(addr);
        break;
      }
      case kNdOptDnssl:
        if (units < 2) return V6G_R_ND_OPTION_LENGTH;
        o.has_dnssl = true;
        break;
      default:
        if (o.unknown_options < 255) ++o.unknown_options;
        break;
    }
  }
  return V6G_R_NONE;
}

// RFC 4861 validity checks common to every ND message, then the per-type body.
v6g_reason parse_nd(ParsedPacket& p, std::uint8_t type, Reader body) {
  if (p.ip.hop_limit != 255) return V6G_R_ND_HOP_LIMIT;
  if (p.icmp_code != 0) return V6G_R_ND_CODE;
  const Ip6Addr& src = p.ip.src;
  const Ip6Addr& dst = p.ip.dst;
  switch (type) {
    case kNdRouterSolicit: {
      auto& rs = p.message.emplace<RouterSolicit>();
      if (!body.skip(4)) return V6G_R_ND_LENGTH;
      if (auto why = parse_nd_options(body, rs.options); why != V6G_R_NONE) return why;
      if (src.is_unspecified() && rs.options.has_slla) return V6G_R_ND_SLLA_UNSPEC;
      p.klass = PacketClass::kRouterSolicit;
      return V6G_R_NONE;
    }
    case kNdRouterAdvert: {
      auto& ra = p.message.emplace<RouterAdvert>();
      std::uint8_t flags = 0;
      if (!(body.read_u8(ra.cur_hop_limit) && body.read_u8(flags) &&
            body.read_u16(ra.router_lifetime) && body.read_u32(ra.reachable_time) &&
            body.read_u32(ra.retrans_timer)))
        return V6G_R_ND_LENGTH;
      // RFC 4861 6.1.2: the source of an RA is always link-local. The more
      // specific RA reason is used so counters say which message was wrong.
      if (!src.is_link_local()) return V6G_R_RA_SOURCE_NOT_LINK_LOCAL;
      ra.managed = (flags & 0x80) != 0;
      ra.other = (flags & 0x40) != 0;
      ra.home_agent = (flags & 0x20) != 0;
      ra.preference = static_cast<RouterPreference>((flags >> 3) & 3);
      if (auto why = parse_nd_options(body, ra.options); why != V6G_R_NONE) return why;
      p.klass = PacketClass::kRouterAdvert;
      return V6G_R_NONE;
    }
    case kNdNeighborSolicit: {
      auto& ns = p.message.emplace<NeighborSolicit>();
      if (!(body.skip(4) && read_addr(body, ns.target))) return V6G_R_ND_LENGTH;
      if (ns.target.is_multicast()) return V6G_R_ND_MULTICAST_TARGET;
      if (auto why = parse_nd_options(body, ns.options); why != V6G_R_NONE) return why;
      if (src.is_unspecified()) {  // DAD (RFC 4861 7.1.1)
        if (!dst.is_solicited_node_multicast()) return V6G_R_ND_BAD_DESTINATION;
        if (ns.options.has_slla) return V6G_R_ND_SLLA_UNSPEC;
      }
      p.klass = PacketClass::kNeighborSolicit;
      return V6G_R_NONE;
    }
    case kNdNeighborAdvert: {
      auto& na = p.message.emplace<NeighborAdvert>();
      std::uint32_t flags = 0;
      if (!(body.read_u32(flags) && read_addr(body, na.target))) return V6G_R_ND_LENGTH;
      na.router = (flags & 0x80000000U) != 0;
      na.solicited = (flags & 0x40000000U) != 0;
      na.override_ = (flags & 0x20000000U) != 0;
      if (na.target.is_multicast()) return V6G_R_ND_MULTICAST_TARGET;
      if (na.solicited && dst.is_multicast()) return V6G_R_ND_BAD_DESTINATION;
      if (auto why = parse_nd_options(body, na.options); why != V6G_R_NONE) return why;
      p.klass = PacketClass::kNeighborAdvert;
      return V6G_R_NONE;
    }
    default: {  // kNdRedirect
      auto& rd = p.message.emplace<Redirect>();
      if (!(body.skip(4) && read_addr(body, rd.target) && read_addr(body, rd.destination)))
        return V6G_R_ND_LENGTH;
      if (!src.is_link_local()) return V6G_R_ND_BAD_SOURCE;                // RFC 4861 8.1
      if (rd.destination.is_multicast()) return V6G_R_ND_BAD_DESTINATION;  // ditto
      if (auto why = parse_nd_options(body, rd.options); why != V6G_R_NONE) return why;
      p.klass = PacketClass::kRedirect;
      return V6G_R_NONE;
    }
  }
}

// MLDv1 (RFC 2710) and MLDv2 (RFC 3810): Router Alert, hop limit 1,
// link-local source (:: allowed for reports sent before an address exists).
v6g_reason parse_mld(ParsedPacket& p, std::uint8_t type, Reader body) {
  if (!p.ext.router_alert) return V6G_R_MLD_NO_ROUTER_ALERT;
  if (p.ip.hop_limit != 1) return V6G_R_MLD_HOP_LIMIT;
  const bool report = type == kMldV1Report || type == kMldV2Report;
  if (!p.ip.src.is_link_local() && !(report && p.ip.src.is_unspecified()))
    return V6G_R_MLD_BAD_SOURCE;
  Mld m;
  m.type = type;
  if (type == kMldV2Report) {
    m.version = 2;
    if (!(body.skip(2) && body.read_u16(m.records))) return V6G_R_MLD_LENGTH;
    for (std::uint16_t i = 0; i < m.records; ++i) {
      std::uint8_t aux_words = 0;
      std::uint16_t sources = 0;
      if (!(body.skip(1) && body.read_u8(aux_words) && body.read_u16(sources) &&
            body.skip(16 + std::size_t{sources} * 16 + std::size_t{aux_words} * 4)))
        return V6G_R_MLD_LENGTH;
    }
  } else {
    // v1 body: max response delay, reserved, multicast address = 20 bytes;
    // a v2 query is at least 24 bytes of body (RFC 3810 8.1).
    const std::size_t len = body.remaining();
    if (!(body.skip(4) && read_addr(body, m.group))) return V6G_R_MLD_LENGTH;
    if (type == kMldQuery && len > 20) {
      if (len < 24) return V6G_R_MLD_LENGTH;
      std::uint16_t sources = 0;
      if (!(body.skip(2) && body.read_u16(sources) && body.skip(std::size_t{sources} * 16)))
        return V6G_R_MLD_LENGTH;
      m.version = 2;
    }
  }
  p.message = m;
  p.klass = PacketClass::kMld;
  return V6G_R_NONE;
}

v6g_reason parse_icmpv6(ParsedPacket& p, Bytes msg, bool partial) {
  Reader r(msg);
  std::uint16_t checksum = 0;
  if (!(r.read_u8(p.icmp_type) && r.read_u8(p.icmp_code) && r.read_u16(checksum)))
    return V6G_R_TRUNCATED;
  const std::uint8_t type = p.icmp_type;
  // RFC 6980: ND in any fragment, including atomic fragments, is dropped.
  if (p.ext.fragment && is_nd_type(type)) return V6G_R_ND_IN_FRAGMENT;
  if (partial) {  // first fragment of several: checksum covers bytes we don't have
    p.message = OtherIcmpv6{};
    p.klass = is_mld_type(type) ? PacketClass::kMld : PacketClass::kIcmpv6Other;
    return V6G_R_NONE;
  }
  if (!icmpv6_checksum_ok(p.ip.src, p.ip.dst, msg)) return V6G_R_ICMPV6_CHECKSUM;
  if (is_nd_type(type)) return parse_nd(p, type, r);
  if (is_mld_type(type)) return parse_mld(p, type, r);
  p.message = OtherIcmpv6{};
  p.klass = PacketClass::kIcmpv6Other;
  return V6G_R_NONE;
}

// Minimum upper-layer header a first fragment must carry (RFC 7112: the whole
// chain through the upper-layer header belongs in the first fragment).
std::size_t min_upper_header(std::uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return 20;
    case kProtoUdp:
      return 8;
    case kProtoIcmpv6:
      return 4;
    default:
      return 0;
  }
}

v6g_reason parse_upper(ParsedPacket& p, Bytes l4, bool partial) {
  const std::uint8_t proto = p.upper.protocol;
  if (l4.size() < min_upper_header(proto))
    return partial ? V6G_R_FRAG_FIRST_NO_UPPER : V6G_R_TRUNCATED;
  Reader r(l4);
  switch (proto) {
    case kProtoIcmpv6:
      return parse_icmpv6(p, l4, partial);
    case kProtoUdp: {
      std::uint16_t sport = 0;
      std::uint16_t dport = 0;
      (void)(r.read_u16(sport) && r.read_u16(dport) && r.skip(4));
      if (dport == kDhcpv6ServerPort || dport == kDhcpv6ClientPort) {
        Dhcpv6 d;
        d.src_port = sport;
        d.dst_port = dport;
        if (!r.read_u8(d.msg_type)) return partial ? V6G_R_FRAG_FIRST_NO_UPPER : V6G_R_TRUNCATED;
        p.klass = d.is_server_message() ? PacketClass::kDhcpv6Server : PacketClass::kDhcpv6Client;
        p.message = d;
        return V6G_R_NONE;
      }
      if (sport == kTeredoPort || dport == kTeredoPort) {
        p.message = Tunnel{kProtoUdp};
        p.klass = PacketClass::kTunnel;
        return V6G_R_NONE;
      }
      p.message = Transport{sport, dport};
      p.klass = PacketClass::kData;
      return V6G_R_NONE;
    }
    case kProtoTcp: {
      Transport t;
      (void)(r.read_u16(t.src_port) && r.read_u16(t.dst_port));
      p.message = t;
      p.klass = PacketClass::kData;
      return V6G_R_NONE;
    }
    case kProtoIpv6:
    case kProtoGre:
      p.message = Tunnel{proto};
      p.klass = PacketClass::kTunnel;
      return V6G_R_NONE;
    default:
      p.message = OtherUpper{};
      p.klass = PacketClass::kData;
      return V6G_R_NONE;
  }
}

// Walks the extension-header chain from `r` (positioned right after the IPv6
// header, limited to the IPv6 payload), then the upper layer.
v6g_reason parse_chain(ParsedPacket& p, Bytes frame, Reader r) {
  ExtHeaders& ext = p.ext;
  std::uint8_t nh = p.ip.next_header;
  std::uint8_t dest_opts_seen = 0;
  // In the first fragment of several, running out of bytes means the chain
  // (or upper-layer header) was pushed into a later fragment: RFC 7113.
  auto short_read = [&ext] {
    return ext.fragment && ext.more_fragments ? V6G_R_FRAG_FIRST_NO_UPPER : V6G_R_TRUNCATED;
  };
  // Chain faults (order, limits, RH0) are noted and the walk goes on: if the
  // chain then runs out of a first fragment, the RFC 7113 verdict wins, since
  // that is the evasion (atk6-fake_router26 -E F hides the RA behind RH0 and a
  // repeated routing header). The walk is bounded by the bytes: every header
  // consumes at least 8.
  v6g_reason fault = V6G_R_NONE;
  auto note = [&fault](v6g_reason why) {
    if (fault == V6G_R_NONE) fault = why;
  };
  auto short_read_or_fault = [&] {
    const v6g_reason short_why = short_read();
    return short_why == V6G_R_FRAG_FIRST_NO_UPPER || fault == V6G_R_NONE ? short_why : fault;
  };
  std::size_t headers = 0;
  for (;;) {
    const bool generic = is_generic_ext_header(nh);
    if (!generic && nh != kProtoFragment && nh != kProtoAh) break;
    if (++headers > kMaxExtHeaders)
      note(V6G_R_EXTHDR_TOO_MANY);
    else
      ext.count = static_cast<std::uint8_t>(headers);

    std::uint8_t next = 0;
    std::uint8_t len_field = 0;
    if (!(r.read_u8(next) && r.read_u8(len_field))) return short_read_or_fault();
    std::size_t hdr_len = 8;
    if (generic) hdr_len = (std::size_t{len_field} + 1) * 8;
    if (nh == kProtoAh) hdr_len = (std::size_t{len_field} + 2) * 4;
    Bytes body;  // the header after its first two bytes
    if (!r.read_span(hdr_len - 2, body)) return short_read_or_fault();
    if (std::size_t{ext.bytes} + hdr_len > kMaxExtHeaderBytes)
      note(V6G_R_EXTHDR_TOO_LONG);
    else
      ext.bytes = static_cast<std::uint16_t>(ext.bytes + hdr_len);
    Reader b(body);

    switch (nh) {
      case kProtoHopByHop:  // RFC 8200 4.1: only immediately after the IPv6 header
        if (headers != 1) note(V6G_R_EXTHDR_ORDER);
        ext.hop_by_hop = true;
        if (!scan_hop_by_hop(body, ext)) note(V6G_R_TRUNCATED);
        break;
      case kProtoDestOpts:  // once before routing, once before the upper layer
        if (++dest_opts_seen > 2) note(V6G_R_EXTHDR_ORDER);
        // Options here are the destination's business (RFC 8200 4.6); not
        // walking them keeps a 1 KB block of Pad1 (atk6 -E o) cheap.
        ext.destination_options = true;
        break;
      case kProtoRouting: {
        if (ext.routing) {
          note(V6G_R_EXTHDR_ORDER);
          break;
        }
        ext.routing = true;
        (void)b.read_u8(ext.routing_type);
        if (ext.routing_type == 0) note(V6G_R_ROUTING_TYPE0);  // RFC 5095
        break;
      }
      case kProtoFragment: {
        if (ext.fragment) {
          note(V6G_R_EXTHDR_ORDER);
          break;
        }
        ext.fragment = true;
        std::uint16_t off_flags = 0;
        (void)(b.read_u16(off_flags) && b.read_u32(ext.fragment_id));
        ext.fragment_offset = static_cast<std::uint16_t>(off_flags >> 3);
        ext.more_fragments = (off_flags & 1) != 0;
        // RFC 8200 4.5: every fragment but the last carries a multiple of 8.
        const std::size_t frag_payload = frame.size() - r.pos();
        if (ext.more_fragments && (frag_payload % 8) != 0) note(V6G_R_FRAG_ATOMIC_BAD);
        if (ext.fragment_offset != 0) {
          if (fault != V6G_R_NONE) return fault;  // in the unfragmentable part
          // Non-first fragment: what follows is the middle of someone's
          // payload, not headers. Reassembly (the receiver's job) decides.
          p.upper.protocol = next;
          p.upper.present = false;
          p.upper.offset = r.pos();
          p.upper.length = frag_payload;
          p.klass = PacketClass::kFragmentTail;
          return V6G_R_NONE;
        }
        break;
      }
      default:  // AH, Mobility, HIP, Shim6: skip
        if (nh == kProtoAh) ext.esp_or_ah = true;
        break;
    }
    nh = next;
  }
  // The chain ended exactly where the first fragment ends: the upper-layer
  // header itself is in a later fragment (RFC 7113 again, -E F's shape).
  if (ext.fragment && ext.more_fragments && nh != kProtoNoNext &&
      r.remaining() < std::max<std::size_t>(1, min_upper_header(nh)))
    return V6G_R_FRAG_FIRST_NO_UPPER;
  if (fault != V6G_R_NONE) return fault;

  p.upper.protocol = nh;
  p.upper.offset = r.pos();
  p.upper.length = r.remaining();
  const bool partial = ext.fragment && ext.more_fragments;
  if (nh == kProtoNoNext) {
    p.klass = PacketClass::kData;
    p.message = OtherUpper{};
    return V6G_R_NONE;
  }
  p.upper.present = true;
  if (nh == kProtoEsp) {
    ext.esp_or_ah = true;
    p.message = OtherUpper{};
    p.klass = PacketClass::kData;
    return V6G_R_NONE;
  }
  Bytes l4;
  (void)r.read_span(r.remaining(), l4);
  return parse_upper(p, l4, partial);
}

v6g_reason parse_ipv6_at(ParsedPacket& p, Bytes frame, std::size_t l3) {
  Reader r(frame, l3);
  std::uint32_t vtf = 0;
  if (!r.has(kIpv6HeaderLen)) return V6G_R_TRUNCATED;
  (void)(r.read_u32(vtf) && r.read_u16(p.ip.payload_length) && r.read_u8(p.ip.next_header) &&
         r.read_u8(p.ip.hop_limit) && read_addr(r, p.ip.src) && read_addr(r, p.ip.dst));
  if ((vtf >> 28) != 6) return V6G_R_BAD_IP_VERSION;
  p.ip.traffic_class = static_cast<std::uint8_t>((vtf >> 20) & 0xff);
  p.ip.flow_label = vtf & 0xfffff;
  if (r.remaining() < p.ip.payload_length) return V6G_R_BAD_PAYLOAD_LENGTH;
  // Bytes past the payload length are Ethernet padding (minimum frame size).
  const Bytes packet = frame.first(l3 + kIpv6HeaderLen + p.ip.payload_length);
  return parse_chain(p, packet, Reader(packet, l3 + kIpv6HeaderLen));
}

// Copying a ready empty packet is a plain memcpy; value-initializing one
// element by element (SmallVec arrays of prefixes/routes) cost ~200
// instructions per packet in callgrind, a quarter of a whole NS parse.
const ParsedPacket kEmptyPacket{};

v6g_reason parse_frame_at(ParsedPacket& p, Bytes frame) {
  Reader r(frame);
  std::uint16_t ethertype = 0;
  if (!(r.read_bytes(p.eth.dst.bytes) && r.read_bytes(p.eth.src.bytes) && r.read_u16(ethertype)))
    return V6G_R_TRUNCATED;
  // 802.1ad outer tag (QinQ): the service VLAN is the host's business; the
  // inner customer tag, if any, is the one ports are configured with.
  if (ethertype == kEtherTypeQinQ) {
    std::uint16_t tci = 0;
    if (!(r.read_u16(tci) && r.read_u16(ethertype))) return V6G_R_TRUNCATED;
    p.eth.vlan_tagged = true;
    p.eth.vlan_id = tci & 0x0fff;
  }
  if (ethertype == kEtherTypeVlan) {
    std::uint16_t tci = 0;
    if (!(r.read_u16(tci) && r.read_u16(ethertype))) return V6G_R_TRUNCATED;
    p.eth.vlan_tagged = true;
    p.eth.vlan_id = tci & 0x0fff;
  }
  p.eth.ethertype = ethertype;
  p.eth.l3_offset = r.pos();
  if (ethertype != kEtherTypeIpv6) {
    p.klass = PacketClass::kNotIpv6;
    return V6G_R_NONE;
  }
  return parse_ipv6_at(p, frame, r.pos());
}

}  // namespace

Reason parse_frame_into(Bytes frame, ParsedPacket& out) {
  out = kEmptyPacket;
  return reason(parse_frame_at(out, frame));
}

Reason parse_ipv6_into(Bytes packet, ParsedPacket& out) {
  out = kEmptyPacket;
  out.eth.ethertype = kEtherTypeIpv6;
  return reason(parse_ipv6_at(out, packet, 0));
}

Result<ParsedPacket> parse_frame(Bytes frame) {
  Result<ParsedPacket> result{kEmptyPacket};
  if (const auto why = parse_frame_at(result.value(), frame); why != V6G_R_NONE)
    return R::fail(why);
  return result;
}

Result<ParsedPacket> parse_ipv6(Bytes packet) {
  Result<ParsedPacket> result{kEmptyPacket};
  result.value().eth.ethertype = kEtherTypeIpv6;
  if (const auto why = parse_ipv6_at(result.value(), packet, 0); why != V6G_R_NONE)
    return R::fail(why);
  return result;
}

std::string_view packet_class_name(PacketClass c) {
  switch (c) {
    case PacketClass::kNotIpv6:
      return "not_ipv6";
    case PacketClass::kRouterSolicit:
      return "router_solicit";
    case PacketClass::kRouterAdvert:
      return "router_advert";
    case PacketClass::kNeighborSolicit:
      return "neighbor_solicit";
    case PacketClass::kNeighborAdvert:
      return "neighbor_advert";
    case PacketClass::kRedirect:
      return "redirect";
    case PacketClass::kMld:
      return "mld";
    case PacketClass::kDhcpv6Client:
      return "dhcpv6_client";
    case PacketClass::kDhcpv6Server:
      return "dhcpv6_server";
    case PacketClass::kIcmpv6Other:
      return "icmpv6_other";
    case PacketClass::kTunnel:
      return "tunnel";
    case PacketClass::kData:
      return "data";
    case PacketClass::kFragmentTail:
      return "fragment_tail";
  }
  return "unknown";
}

}  // namespace v6g::packet
