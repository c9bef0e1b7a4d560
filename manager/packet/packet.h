// Parsed view of one Ethernet frame carrying IPv6: the contract between the
// parser (parse.cc) and everything that decides on packets (guard engine,
// inspector, explain). Plain data, fixed capacity, no heap: a parse is a pure
// function from bytes to this struct or to a drop reason.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "common/net.h"
#include "common/result.h"

namespace v6g::packet {

using Bytes = std::span<const std::byte>;

inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;
inline constexpr std::uint16_t kEtherTypeQinQ = 0x88a8;

// IP protocol numbers we care about.
enum : std::uint8_t {
  kProtoHopByHop = 0,
  kProtoTcp = 6,
  kProtoUdp = 17,
  kProtoIpv6 = 41,  // IPv6-in-IPv6 (tunnel)
  kProtoRouting = 43,
  kProtoFragment = 44,
  kProtoGre = 47,
  kProtoEsp = 50,
  kProtoAh = 51,
  kProtoIcmpv6 = 58,
  kProtoNoNext = 59,
  kProtoDestOpts = 60,
  kProtoMobility = 135,
  kProtoHip = 139,
  kProtoShim6 = 140,
};

// ICMPv6 types we classify.
enum : std::uint8_t {
  kIcmpEchoRequest = 128,
  kIcmpEchoReply = 129,
  kMldQuery = 130,
  kMldV1Report = 131,
  kMldV1Done = 132,
  kNdRouterSolicit = 133,
  kNdRouterAdvert = 134,
  kNdNeighborSolicit = 135,
  kNdNeighborAdvert = 136,
  kNdRedirect = 137,
  kMldV2Report = 143,
};

// Limits on the extension-header chain (RFC 7112 / RFC 8504 spirit): a
// legitimate packet never needs more; attackers use long chains to push the
// upper-layer header out of reach of simple filters.
inline constexpr int kMaxExtHeaders = 8;
inline constexpr std::size_t kMaxExtHeaderBytes = 1024;

struct EthernetInfo {
  MacAddr dst;
  MacAddr src;
  std::uint16_t vlan_id = 0;  // 0 = untagged (802.1Q VID 0 = priority tag)
  bool vlan_tagged = false;
  std::uint16_t ethertype = 0;  // inner ethertype after any tags
  std::size_t l3_offset = 0;    // offset of the IPv6 header in the frame
};

struct Ipv6Header {
  Ip6Addr src;
  Ip6Addr dst;
  std::uint8_t hop_limit = 0;
  std::uint8_t next_header = 0;  // first next-header value (before the chain)
  std::uint16_t payload_length = 0;
  std::uint8_t traffic_class = 0;
  std::uint32_t flow_label = 0;
};

// Summary of the extension-header chain. Flags, not rejections: policy (block
// hop-by-hop, block fragments...) is the guard's job.
struct ExtHeaders {
  std::uint8_t count = 0;
  std::uint16_t bytes = 0;  // total length of the chain
  bool hop_by_hop = false;
  bool routing = false;
  std::uint8_t routing_type = 0;
  bool fragment = false;
  bool destination_options = false;
  bool router_alert = false;             // hop-by-hop Router Alert option present
  std::uint16_t router_alert_value = 0;  // 0 = MLD (RFC 2711)
  bool esp_or_ah = false;
  // Fragment header fields (valid when fragment).
  std::uint16_t fragment_offset = 0;  // in 8-octet units
  bool more_fragments = false;
  std::uint32_t fragment_id = 0;
  bool non_first_fragment() const { return fragment && fragment_offset != 0; }
  bool atomic_fragment() const { return fragment && fragment_offset == 0 && !more_fragments; }
};

// Upper-layer protocol reached at the end of the chain.
struct UpperLayer {
  std::uint8_t protocol = kProtoNoNext;  // next header value that ended the chain
  bool present = false;                  // false for non-first fragments / no-next-header
  std::size_t offset = 0;                // offset from frame start
  std::size_t length = 0;                // bytes of upper-layer data in this frame
};

// ND options. Fixed capacity: extra occurrences are counted, not stored.
struct PrefixInfo {
  Ip6Prefix prefix;
  bool on_link = false;     // L
  bool autonomous = false;  // A
  std::uint32_t valid_lifetime = 0;
  std::uint32_t preferred_lifetime = 0;
};

struct RouteInfo {
  Ip6Prefix prefix;
  std::uint8_t preference = 0;  // 2-bit signed encoding as on the wire
  std::uint32_t lifetime = 0;
};

template <typename T, std::size_t N>
struct SmallVec {
  std::array<T, N> items{};
  std::uint8_t size = 0;
  std::uint8_t overflow = 0;  // occurrences beyond N
  void push(const T& t) {
    if (size < N)
      items[size++] = t;
    else if (overflow < 255)
      ++overflow;
  }
  const T* begin() const { return items.data(); }
  const T* end() const { return items.data() + size; }
  bool empty() const { return size == 0; }
};

struct NdOptions {
  bool has_slla = false;
  MacAddr slla;
  bool has_tlla = false;
  MacAddr tlla;
  bool has_mtu = false;
  std::uint32_t mtu = 0;
  bool has_nonce = false;
  std::array<std::uint8_t, 6> nonce{};  // first 6 bytes are enough to compare
  SmallVec<PrefixInfo, 8> prefixes;
  SmallVec<RouteInfo, 8> routes;
  SmallVec<Ip6Addr, 8> rdnss;
  std::uint32_t rdnss_lifetime = 0;
  bool has_dnssl = false;
  std::uint8_t unknown_options = 0;
};

struct RouterSolicit {
  NdOptions options;
};

enum class RouterPreference : std::uint8_t { kMedium = 0, kHigh = 1, kReserved = 2, kLow = 3 };

struct RouterAdvert {
  std::uint8_t cur_hop_limit = 0;
  bool managed = false;  // M
  bool other = false;    // O
  bool home_agent = false;
  RouterPreference preference = RouterPreference::kMedium;
  std::uint16_t router_lifetime = 0;
  std::uint32_t reachable_time = 0;
  std::uint32_t retrans_timer = 0;
  NdOptions options;
};

struct NeighborSolicit {
  Ip6Addr target;
  NdOptions options;
};

struct NeighborAdvert {
  Ip6Addr target;
  bool router = false;     // R
  bool solicited = false;  // S
  bool override_ = false;  // O
  NdOptions options;
};

struct Redirect {
  Ip6Addr target;
  Ip6Addr destination;
  NdOptions options;
};

struct Mld {
  std::uint8_t type = 0;      // kMldQuery / kMldV1Report / kMldV1Done / kMldV2Report
  std::uint8_t version = 1;   // 1 or 2 (queries: 2 when length >= 28)
  Ip6Addr group;              // multicast address (v1, v2 query); :: for general query
  std::uint16_t records = 0;  // v2 report: number of records
};

struct Dhcpv6 {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t msg_type = 0;  // RFC 8415 message type
  bool is_server_message() const {
    // ADVERTISE(2), REPLY(7), RECONFIGURE(10), RELAY-REPL(13)
    return msg_type == 2 || msg_type == 7 || msg_type == 10 || msg_type == 13;
  }
};

struct OtherIcmpv6 {};
struct Transport {  // TCP/UDP not DHCPv6
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
};
struct Tunnel {
  std::uint8_t kind = 0;  // kProtoIpv6, kProtoGre, or kProtoUdp for IPv6-in-UDP (Teredo 3544)
};
struct OtherUpper {};

using Message =
    std::variant<std::monostate, RouterSolicit, RouterAdvert, NeighborSolicit, NeighborAdvert,
                 Redirect, Mld, Dhcpv6, OtherIcmpv6, Transport, Tunnel, OtherUpper>;

// Coarse class used for rate-limit buckets, counters and kernel punt rules.
enum class PacketClass : std::uint8_t {
  kNotIpv6,
  kRouterSolicit,
  kRouterAdvert,
  kNeighborSolicit,
  kNeighborAdvert,
  kRedirect,
  kMld,
  kDhcpv6Client,
  kDhcpv6Server,
  kIcmpv6Other,
  kTunnel,
  kData,          // TCP/UDP/other upper layer
  kFragmentTail,  // non-first fragment: upper layer not visible
};

struct ParsedPacket {
  EthernetInfo eth;
  Ipv6Header ip;
  ExtHeaders ext;
  UpperLayer upper;
  std::uint8_t icmp_type = 0;  // when upper.protocol == ICMPv6
  std::uint8_t icmp_code = 0;
  Message message;
  PacketClass klass = PacketClass::kNotIpv6;

  bool is_dad() const {  // NS from :: = Duplicate Address Detection probe
    return klass == PacketClass::kNeighborSolicit && ip.src.is_unspecified();
  }
};

// Parse one Ethernet frame. A frame that is not IPv6 parses fine with
// klass == kNotIpv6. A rejection means the RFCs say the packet must be
// dropped whatever the policy (malformed ND, RFC 7113 first fragment without
// upper-layer header, RFC 6980 ND in fragment, bad ICMPv6 checksum...).
Result<ParsedPacket> parse_frame(Bytes frame);

// Same, starting at the IPv6 header (nfqueue from the ip6 family delivers the
// network header only); eth fields are left default except l3_offset = 0.
Result<ParsedPacket> parse_ipv6(Bytes packet);

// Hot-path forms of the two above: parse into a caller-owned ParsedPacket
// (reset first) and return V6G_R_NONE or the drop reason. Same checks, no
// copy of the ~770-byte result (see docs/packet.md for the numbers).
Reason parse_frame_into(Bytes frame, ParsedPacket& out);
Reason parse_ipv6_into(Bytes packet, ParsedPacket& out);

std::string_view packet_class_name(PacketClass c);

}  // namespace v6g::packet
