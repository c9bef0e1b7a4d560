// The pure half of the inspector: one queued packet as the kernel describes
// it (attributes + bytes) -> guard verdict. No sockets here, so unit tests
// drive it with captured frames and hand-built netlink messages.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "common/net.h"
#include "guard/engine.h"
#include "packet/packet.h"

struct nlmsghdr;

namespace v6g::inspector {

// What nfnetlink_queue tells about one packet (NFQNL_MSG_PACKET).
struct NfqPacket {
  std::uint16_t queue = 0;  // nfgenmsg res_id
  std::uint8_t family = 0;  // AF_INET6 (br_netfilter) or AF_BRIDGE (module hook)
  std::uint32_t id = 0;     // NFQA_PACKET_HDR packet_id
  std::uint16_t hw_protocol = 0;
  std::uint8_t hook = 0;
  std::uint32_t indev = 0;      // NFQA_IFINDEX_INDEV (the bridge for both families)
  std::uint32_t physindev = 0;  // NFQA_IFINDEX_PHYSINDEV (the bridge port)
  bool has_hwaddr = false;      // NFQA_HWADDR: the frame's source MAC
  MacAddr hwaddr;
  bool has_l2 = false;  // NFQA_L2HDR (bridge family): destination + source MAC
  MacAddr l2_dst, l2_src;
  bool has_vlan = false;  // NFQA_VLAN: the out-of-band (accelerated) tag
  std::uint16_t vlan_tci = 0;
  bool has_mark = false;  // NFQA_MARK: skb->mark (the nft datapath's punt mark)
  std::uint32_t mark = 0;
  std::uint32_t skb_info = 0;  // NFQA_SKB_INFO flags (NFQA_SKB_CSUMNOTREADY...)
  std::uint32_t cap_len = 0;   // NFQA_CAP_LEN: original length when truncated
  packet::Bytes payload;       // from the network header on (both families)

  // The guard's port id: the bridge port the frame came in on.
  guard::PortId port() const { return physindev != 0 ? physindev : indev; }
  MacAddr source_mac() const { return has_l2 ? l2_src : hwaddr; }
  // The VLAN id of the frame's outer (out-of-band) tag, none when untagged:
  // NFQA_VLAN (bridge family: the module's hook), else for the ip6 family
  // (the nft datapath through br_netfilter, which sends no NFQA_VLAN) the
  // VLAN the bridge table wrote into the punt mark (nft/punt_mark.h).
  std::optional<std::uint16_t> outer_vlan() const;
};

// Parses one NFQNL_MSG_PACKET with validated attributes. False when the
// message is not a packet or lacks NFQA_PACKET_HDR (then out.id is 0).
bool parse_packet_message(const nlmsghdr* nlh, NfqPacket& out);

// Parses the packet into `scratch` (reused across calls) and asks the engine:
// parser rejections go to decide_parse_failure, everything else to decide.
// The frame's MAC and VLAN come from the attributes (the ip6 family has no
// Ethernet header in the payload). A checksum the kernel has not filled in
// yet (NFQA_SKB_CSUMNOTREADY, GSO queues) is completed on a copy first.
guard::Decision inspect(guard::Engine& engine, const NfqPacket& pkt, guard::Nanos now,
                        guard::Effects& fx, packet::ParsedPacket& scratch);

// Completes the ICMPv6 checksum of an IPv6 packet in place (no extension
// headers beyond what the parser walks: the upper-layer offset is given).
void fill_icmpv6_checksum(std::span<std::byte> packet, std::size_t l4_offset);

}  // namespace v6g::inspector
