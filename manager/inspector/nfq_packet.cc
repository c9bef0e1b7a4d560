#include "inspector/nfq_packet.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <vector>

#include "nft/punt_mark.h"

namespace v6g::inspector {
namespace {

struct Attrs {
  std::array<const nlattr*, NFQA_MAX + 1> a{};
};

int validate(const nlattr* attr, void* data) {
  auto* attrs = static_cast<Attrs*>(data);
  const int type = mnl_attr_get_type(attr);
  if (mnl_attr_type_valid(attr, NFQA_MAX) < 0) return MNL_CB_OK;  // newer kernel: skip
  switch (type) {
    case NFQA_MARK:
    case NFQA_IFINDEX_INDEV:
    case NFQA_IFINDEX_OUTDEV:
    case NFQA_IFINDEX_PHYSINDEV:
    case NFQA_IFINDEX_PHYSOUTDEV:
    case NFQA_CAP_LEN:
    case NFQA_SKB_INFO:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0) return MNL_CB_ERROR;
      break;
    case NFQA_PACKET_HDR:
      if (mnl_attr_validate2(attr, MNL_TYPE_UNSPEC, sizeof(nfqnl_msg_packet_hdr)) < 0)
        return MNL_CB_ERROR;
      break;
    case NFQA_HWADDR:
      if (mnl_attr_validate2(attr, MNL_TYPE_UNSPEC, sizeof(nfqnl_msg_packet_hw)) < 0)
        return MNL_CB_ERROR;
      break;
    case NFQA_VLAN:
      if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0) return MNL_CB_ERROR;
      break;
    default:
      break;
  }
  attrs->a[static_cast<std::size_t>(type)] = attr;
  return MNL_CB_OK;
}

int vlan_cb(const nlattr* attr, void* data) {
  auto* tci = static_cast<std::uint32_t*>(data);
  if (mnl_attr_get_type(attr) == NFQA_VLAN_TCI && mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
    *tci = 0x10000u | ntohs(mnl_attr_get_u16(attr));
  return MNL_CB_OK;
}

std::uint32_t be32(const nlattr* a) { return ntohl(mnl_attr_get_u32(a)); }

MacAddr mac_at(const std::uint8_t* p) {
  MacAddr m;
  std::memcpy(m.bytes.data(), p, 6);
  return m;
}

Ip6Addr source_of(packet::Bytes payload) {
  if (payload.size() < 24) return {};
  return Ip6Addr::from_bytes(reinterpret_cast<const std::uint8_t*>(payload.data()) + 8);
}

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc) {
  for (std::size_t i = 0; i + 1 < n; i += 2)
    acc += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2 != 0) acc += static_cast<std::uint32_t>(p[n - 1] << 8);
  return acc;
}

}  // namespace

bool parse_packet_message(const nlmsghdr* nlh, NfqPacket& out) {
  out = NfqPacket{};
  if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET) return false;
  if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(nfgenmsg)) return false;
  const auto* gen = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  out.family = gen->nfgen_family;
  out.queue = ntohs(gen->res_id);
  Attrs attrs;
  if (mnl_attr_parse(nlh, sizeof(nfgenmsg), validate, &attrs) < 0) return false;
  const auto& a = attrs.a;
  if (a[NFQA_PACKET_HDR] == nullptr) return false;
  const auto* ph =
      static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(a[NFQA_PACKET_HDR]));
  out.id = ntohl(ph->packet_id);
  out.hw_protocol = ntohs(ph->hw_protocol);
  out.hook = ph->hook;
  if (a[NFQA_IFINDEX_INDEV] != nullptr) out.indev = be32(a[NFQA_IFINDEX_INDEV]);
  if (a[NFQA_IFINDEX_PHYSINDEV] != nullptr) out.physindev = be32(a[NFQA_IFINDEX_PHYSINDEV]);
  if (a[NFQA_SKB_INFO] != nullptr) out.skb_info = be32(a[NFQA_SKB_INFO]);
  if (a[NFQA_CAP_LEN] != nullptr) out.cap_len = be32(a[NFQA_CAP_LEN]);
  if (a[NFQA_MARK] != nullptr) {
    out.has_mark = true;
    out.mark = be32(a[NFQA_MARK]);
  }
  if (a[NFQA_HWADDR] != nullptr) {
    const auto* hw = static_cast<const nfqnl_msg_packet_hw*>(mnl_attr_get_payload(a[NFQA_HWADDR]));
    if (ntohs(hw->hw_addrlen) == 6) {
      out.has_hwaddr = true;
      out.hwaddr = mac_at(hw->hw_addr);
    }
  }
  if (a[NFQA_L2HDR] != nullptr && mnl_attr_get_payload_len(a[NFQA_L2HDR]) >= 12) {
    const auto* l2 = static_cast<const std::uint8_t*>(mnl_attr_get_payload(a[NFQA_L2HDR]));
    out.has_l2 = true;
    out.l2_dst = mac_at(l2);
    out.l2_src = mac_at(l2 + 6);
  }
  if (a[NFQA_VLAN] != nullptr) {
    std::uint32_t tci = 0;
    mnl_attr_parse_nested(a[NFQA_VLAN], vlan_cb, &tci);
    if (tci != 0) {
      out.has_vlan = true;
      out.vlan_tci = static_cast<std::uint16_t>(tci);
    }
  }
  if (a[NFQA_PAYLOAD] != nullptr)
    out.payload =
        packet::Bytes(static_cast<const std::byte*>(mnl_attr_get_payload(a[NFQA_PAYLOAD])),
                      mnl_attr_get_payload_len(a[NFQA_PAYLOAD]));
  return true;
}

std::optional<std::uint16_t> NfqPacket::outer_vlan() const {
  if (has_vlan) return static_cast<std::uint16_t>(vlan_tci & 0x0fff);
  // Only the ip6 family: a bridge-family packet without NFQA_VLAN is untagged
  // whatever its mark says.
  if (family == AF_INET6 && has_mark && nft::punt_mark_tagged(mark))
    return nft::punt_mark_vlan(mark);
  return std::nullopt;
}

void fill_icmpv6_checksum(std::span<std::byte> packet, std::size_t l4_offset) {
  auto* p = reinterpret_cast<std::uint8_t*>(packet.data());
  if (packet.size() < l4_offset + 4 || packet.size() < 40) return;
  const std::size_t len = packet.size() - l4_offset;
  p[l4_offset + 2] = p[l4_offset + 3] = 0;
  std::uint32_t acc = sum16(p + 8, 32, 0);  // source + destination
  acc += static_cast<std::uint32_t>(len >> 16) + static_cast<std::uint32_t>(len & 0xffff);
  acc += 58;
  acc = sum16(p + l4_offset, len, acc);
  while ((acc >> 16) != 0) acc = (acc & 0xffff) + (acc >> 16);
  const auto sum = static_cast<std::uint16_t>(~acc);
  p[l4_offset + 2] = static_cast<std::uint8_t>(sum >> 8);
  p[l4_offset + 3] = static_cast<std::uint8_t>(sum);
}

guard::Decision inspect(guard::Engine& engine, const NfqPacket& pkt, guard::Nanos now,
                        guard::Effects& fx, packet::ParsedPacket& scratch) {
  const guard::PortId port = pkt.port();
  const bool ipv6 = pkt.family == AF_INET6 || pkt.hw_protocol == packet::kEtherTypeIpv6;
  Reason why = reason(V6G_R_NONE);
  packet::Bytes bytes = pkt.payload;
  if (ipv6) {
    why = packet::parse_ipv6_into(bytes, scratch);
    if (why == V6G_R_ICMPV6_CHECKSUM && (pkt.skb_info & NFQA_SKB_CSUMNOTREADY) != 0 &&
        scratch.upper.present && scratch.upper.protocol == packet::kProtoIcmpv6) {
      // The sender left the sum to offload (CHECKSUM_PARTIAL): finish it on a
      // copy, as the NIC would, and parse again.
      thread_local std::vector<std::byte> copy;
      copy.assign(bytes.begin(), bytes.end());
      fill_icmpv6_checksum(copy, scratch.upper.offset);
      why = packet::parse_ipv6_into(copy, scratch);
    }
  } else {
    // The module punts IPv6 only; anything else (an in-band QinQ tag) is
    // rebuilt as a frame so the parser walks the tags itself.
    thread_local std::vector<std::byte> frame;
    frame.assign(14, std::byte{0});
    const MacAddr src = pkt.source_mac();
    std::memcpy(frame.data(), pkt.l2_dst.bytes.data(), 6);
    std::memcpy(frame.data() + 6, src.bytes.data(), 6);
    frame[12] = static_cast<std::byte>(pkt.hw_protocol >> 8);
    frame[13] = static_cast<std::byte>(pkt.hw_protocol & 0xff);
    frame.insert(frame.end(), bytes.begin(), bytes.end());
    why = packet::parse_frame_into(frame, scratch);
  }
  // Outer (out-of-band) VLAN and MACs from the attributes.
  const std::uint16_t inner_vlan = scratch.eth.vlan_id;
  scratch.eth.src = pkt.source_mac();
  scratch.eth.dst = pkt.l2_dst;
  const std::optional<std::uint16_t> outer = pkt.outer_vlan();
  scratch.eth.vlan_tagged = outer.has_value() || scratch.eth.vlan_tagged;
  scratch.eth.vlan_id = outer.value_or(inner_vlan);
  if (why != V6G_R_NONE)
    return engine.decide_parse_failure(port, why, scratch.eth.src,
                                       ipv6 ? source_of(bytes) : scratch.ip.src, now, fx);
  return engine.decide(port, scratch, now, fx);
}

}  // namespace v6g::inspector
