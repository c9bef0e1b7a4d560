#include "nft/ruleset.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace v6g::nft {
namespace {

std::string table_ref() { return std::string("bridge ") + kTable; }

std::string element(const char* verb, const char* set, const std::string& value) {
  return std::string(verb) + " element " + table_ref() + " " + set + " { " + value + " }\n";
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

bool monitor(const datapath::PortSpec& port) { return (port.flags & V6G_PORT_F_MONITOR) != 0; }
// enable_deep_packet_inspection: every IPv6 packet of the port is inspected.
bool dpi(const datapath::PortSpec& port) { return (port.flags & V6G_PORT_F_DPI) != 0; }

// Per-port, per-reason count: the element (input port . reason) of the
// dynamic set port_counts is created on first use and carries its own
// counter, so one rule counts for every port. Placed after any map lookup
// of the rule (a miss ends the rule uncounted), right before the verdict.
std::string count(v6g_reason why) {
  return "update @port_counts { iifname . " + std::to_string(why) + " counter } ";
}

// Matches on the first next header and the bytes right after the fixed IPv6
// header, read at fixed offsets from the network header. nft's transport
// matches (icmpv6 type, udp sport, meta l4proto, exthdr) rely on the
// bridge hook's IPv6 header walk, which reads the first next header from
// the skb's linear part: when a frame's IPv6 header sits in page fragments
// (a guest's jumbo frame through a tap with a small virtio-net hdr_len, or
// an AF_PACKET TX ring), that read sees stale bytes and those matches fail.
// Raw `@nh` loads copy from the fragments; every drop or punt that guards
// against a VM therefore has a raw twin right after it, which only sees
// what the transport match missed.
std::string first_icmpv6(const std::string& types) {
  return "ip6 nexthdr ipv6-icmp @nh,320,8 " + types + " ";
}
std::string first_udp_sport(unsigned port) {
  return "ip6 nexthdr udp @nh,320,16 " + std::to_string(port) + " ";
}
std::string first_udp_dport(unsigned port) {
  return "ip6 nexthdr udp @nh,336,16 " + std::to_string(port) + " ";
}

// An extension header first whose fail-closed punt missed (no inspector:
// empty punt maps; or a port not re-added yet after a restart) can't be
// judged by this table. The bridge hook's header walk reads the first next
// header from the skb's linear part: for a frame whose IPv6 header is in
// page fragments that byte is stale - whatever an earlier frame left there,
// which the guest can prime with a small frame of its own. A walk that
// starts with the wrong kind of header (a fragment or AH header: another
// length) runs on through bytes the guest chose and can find a fake copy of
// the header the raw first next header names, so "exthdr X missing" (the
// earlier misread drops) does not catch it: an RA behind hop-by-hop and
// destination options passed (60 of 60 reached the victim, which took the
// prefix and the default route). Raw loads can't follow a chain of any
// length, so without an inspector only the one chain hosts need passes:
// MLD behind an 8-byte hop-by-hop header (Router Alert), read at raw
// offsets (next header 58 and length 0 at 40, the ICMPv6 type at 48).
std::string unjudged_ext_header_drops() {
  const std::string t = table_ref();
  return "add rule " + t +
         " pre iifname @vm_ports meta protocol ip6 ip6 nexthdr { 0, 43, 44, 51, 60 } jump "
         "ext_first\n" +
         "add rule " + t +
         " ext_first ip6 nexthdr 0 @nh,320,16 0x3a00 @nh,384,8 { 130, 131, 132, 143 } return\n" +
         "add rule " + t + " ext_first " + count(V6G_R_FAIL_CLOSED) +
         "counter drop comment \"ext_header_unjudged\"\n";
}

}  // namespace

bool inspects_every_frame(const datapath::PortSpec& port) {
  return monitor(port) || (dpi(port) && port.role == datapath::PortRole::kVm);
}

std::string render_fast_path(bool inspect_ports_in_use) {
  const std::string t = table_ref();
  // Fast path for bound TCP/UDP, the bulk of a VM's traffic: IPv6 whose
  // *first* next header is TCP or UDP (so no extension header, no fragment,
  // no ICMPv6: nothing any drop or punt in pre targets) goes to bound6,
  // which accepts a bound source and otherwise returns to pre's full rule
  // list. Ports whose every frame goes to the inspector (monitor, DPI) must
  // not take it; that check is a lookup every bridged frame would pay
  // (bench-datapath: b/a 0.76 with it, 0.80 without), so only while such a
  // port exists does the dispatch map send TCP/UDP through the fast_guarded
  // chains, switched in the batch that adds or removes the port (map
  // elements, so no rule and no rule counter changes).
  const char* suffix = inspect_ports_in_use ? "fast_guarded" : "bound6";
  return "flush map " + t + " fast_dispatch\nadd element " + t + " fast_dispatch { tcp : jump " +
         suffix + ", udp : jump " + suffix + "_udp }\n";
}

std::string render_table() {
  const std::string t = table_ref();
  const std::string rule = "add rule " + t + " pre ";
  // Idempotent: "add" keeps existing sets and their elements; the chain is
  // flushed and rebuilt so a restart never stacks duplicate rules.
  return "add table " + t + "\n" +                              //
         "add set " + t + " vm_ports { type ifname; }\n" +      //
         "add set " + t + " router_ports { type ifname; }\n" +  //
         "add set " + t + " sg_ports { type ifname; }\n" +      //
         "add set " + t + " ra_guarded_ports { type ifname; }\n" + "add set " + t +
         " monitor_ports { type ifname; }\n" +               //
         "add set " + t + " dpi_ports { type ifname; }\n" +  //
         // monitor_ports + dpi_ports: ports whose every IPv6 frame goes to
         // the inspector, so none of their frames takes the fast path.
         "add set " + t + " inspect_ports { type ifname; }\n" +           //
         "add set " + t + " ra_sources { type ifname . ipv6_addr; }\n" +  //
         "add set " + t +                                                 //
         " bindings { type ifname . ether_addr . ipv6_addr; size 1048576; }\n" +
         // Bindings of VLAN-tagged traffic: (port, VLAN id, MAC, address).
         "add set " + t +
         " vlan_bindings { typeof iifname . vlan id . ether saddr . ip6 saddr; size 1048576; }\n" +
         // Punt maps: port name -> skb mark (kPuntClosedMark or kPuntOpenMark,
         // the class). Filled only while an inspector is attached
         // (enable_punts); the ip6 raw table (br_netfilter) sends marked
         // packets to the class's NFQUEUE range, one queue per CPU.
         // Per-port counters: (port . reason) -> packets, elements made by the
         // rules themselves (count() above). Bounded by ports x counted reasons.
         "add set " + t + " port_counts { type ifname . mark; flags dynamic; size " +
         std::to_string(kPortCountsSize) + "; }\n" + "add map " + t +
         " punt_closed { type ifname : mark; }\n" + "add map " + t +
         " punt_open { type ifname : mark; }\n" +
         // (class mark . VLAN id) -> class mark with the VLAN (punt_mark.h):
         // the VLAN travels to the inspector in the mark. Elements from
         // render_punt_vlan_map() (enable_punts).
         "add map " + t + " punt_vlan { typeof meta mark . vlan id : meta mark; }\n" + "add set " +
         t + " punt_rate { type ifname; flags dynamic; timeout 60s; size 65536; }\n" +
         "add chain " + t + " punt_vm\n" + "add chain " + t + " punt\n" + "add chain " + t +
         " ext_first\n" + "flush chain " + t + " ext_first\n" + "flush chain " + t + " punt\n" +
         "add chain " + t + " bound6\n" + "add chain " + t + " bound6_udp\n" + "add map " + t +
         " fast_dispatch { type inet_proto : verdict; }\n" + "add chain " + t + " fast_guarded\n" +
         "add chain " + t + " fast_guarded_udp\n" + "flush chain " + t + " fast_guarded\n" +
         "flush chain " + t + " fast_guarded_udp\n" + "add chain " + t +
         " pre { type filter hook prerouting priority -200; policy accept; }\n" + "flush chain " +
         t + " pre\n" + "flush chain " + t + " punt_vm\n" + "flush chain " + t + " bound6\n" +
         "flush chain " + t + " bound6_udp\n" +
         // Per-port cap on what a VM port can send to the inspector: a flood
         // (NS, MLD, spoofed sources) costs the host at most this many punts
         // per second and port, the rest is dropped here.
         "add rule " + t + " punt_vm update @punt_rate { iifname limit rate over " +
         std::to_string(kPuntRatePerPort) + "/second burst " + std::to_string(kPuntRatePerPort) +
         " packets } " + count(V6G_R_PACKET_RATE_LIMIT) + "counter drop comment \"punt_rate\"\n" +
         "add rule " + t + " punt_vm goto punt\n" +
         // Every punt ends here, its class already in the mark: a tagged
         // frame's mark gets its VLAN id (the ip6-family NFQUEUE message has
         // no NFQA_VLAN). punt_vlan holds every (class, VLAN) pair; should a
         // lookup still miss, the frame is dropped rather than inspected as
         // untagged. `vlan id` after an explicit 8021ad match reads the S-tag
         // (as NFQA_VLAN would); nft mis-assembles it behind a set of types.
         "add rule " + t +
         " punt ether type 8021q meta mark set meta mark . vlan id map @punt_vlan " +
         count(V6G_R_PUNT) + "accept\n" +  //
         "add rule " + t +
         " punt ether type 8021ad meta mark set meta mark . vlan id map @punt_vlan " +
         count(V6G_R_PUNT) + "accept\n" +  //
         "add rule " + t + " punt ether type { 8021q, 8021ad } " + count(V6G_R_FAIL_CLOSED) +
         "counter drop comment \"punt_vlan_unmapped\"\n" +  //
         "add rule " + t + " punt " + count(V6G_R_PUNT) + "accept\n" +
         // The fast path first (render_fast_path): about three lookups
         // instead of ~15 rules before the binding check. Guarded at first:
         // a previous run's monitor/DPI ports (inspect_ports is kept) stay
         // off it until NftDatapath knows the ports again.
         render_fast_path(true) + rule + "meta protocol ip6 ip6 nexthdr vmap @fast_dispatch\n" +
         "add rule " + t + " fast_guarded iifname @inspect_ports return\n" + "add rule " + t +
         " fast_guarded goto bound6\n" + "add rule " + t +
         " fast_guarded_udp iifname @inspect_ports return\n" + "add rule " + t +
         " fast_guarded_udp goto bound6_udp\n" +
         // DHCPv6 to a client or from a server/relay port must meet the
         // drops below. Two rules, not `udp sport != 547 udp dport != 546`:
         // nft 1.0.6 merges adjacent payload compares into one 4-byte
         // `cmp neq` ("not both"), which let atk6-fake_dhcps6's answers
         // (ephemeral sport -> 546) from a bound source through. Raw
         // offsets (the vmap only sends a UDP first next header here), not
         // `udp sport`: see first_icmpv6().
         "add rule " + t + " bound6_udp @nh,320,16 547 return\n" +  //
         "add rule " + t + " bound6_udp @nh,336,16 546 return\n" +  //
         "add rule " + t + " bound6_udp goto bound6\n" +
         // No inspect_ports check here: the fast_guarded chains have it while
         // such ports exist, and pre's monitor and DPI rules punt their
         // frames before its source-guard jump here.
         // Untagged frames match (port, MAC, source); VLAN-tagged ones (a VM
         // port used as a trunk) must match the VLAN too, in their own set.
         // A binding implies its port: no sg_ports lookup (a bound frame of a
         // port without source guard is accepted below anyway).
         "add rule " + t +
         " bound6 ether type ip6 iifname . ether saddr . ip6 saddr @bindings accept\n" +
         "add rule " + t +
         " bound6 ether type 8021q iifname . vlan id . ether saddr . ip6 saddr @vlan_bindings "
         "accept\n" +
         // Monitor (log-only) ports: nothing is dropped here; all their IPv6
         // goes to the inspector's fail-open queue, which decides, counts,
         // reports and accepts.
         rule + "iifname @monitor_ports meta protocol ip6 meta mark set iifname map @punt_open " +
         "goto punt\n" +
         // RA Guard source criterion: a router port with configured RA sources
         // only passes RAs from those link-local addresses.
         rule +
         "iifname @ra_guarded_ports meta protocol ip6 icmpv6 type nd-router-advert iifname . ip6 "
         "saddr != "
         "@ra_sources " +
         count(V6G_R_RA_SOURCE_NOT_ALLOWED) + "counter drop comment \"ra_source_not_allowed\"\n" +
         rule + "iifname @ra_guarded_ports meta protocol ip6 " + first_icmpv6("134") +
         "iifname . ip6 saddr != @ra_sources " + count(V6G_R_RA_SOURCE_NOT_ALLOWED) +
         "counter drop comment \"ra_source_not_allowed_raw\"\n" +
         // Stacked VLAN tags from a VM (QinQ: the outer tag is out of band, the
         // inner one stays in the frame, so meta protocol is 8021q and no rule
         // below would see the IPv6 inside): drop when IPv6 or yet another tag
         // follows the inner tag (IPv4 in QinQ is not ours to judge).
         rule +
         "iifname @vm_ports meta protocol { 8021q, 8021ad } @ll,160,16 { 0x86dd, 0x8100, 0x88a8 "
         "} " +
         count(V6G_R_TUNNEL_BLOCKED) + "counter drop comment \"ip6_in_stacked_vlan\"\n" +
         // Router advertisements and redirects only ever come from router ports.
         rule + "iifname @vm_ports meta protocol ip6 icmpv6 type nd-router-advert " +
         count(V6G_R_RA_FROM_VM_PORT) + "counter drop comment \"ra_from_vm\"\n" + rule +
         "iifname @vm_ports meta protocol ip6 " + first_icmpv6("134") +
         count(V6G_R_RA_FROM_VM_PORT) + "counter drop comment \"ra_from_vm_raw\"\n" + rule +
         "iifname @vm_ports meta protocol ip6 icmpv6 type nd-redirect " +
         count(V6G_R_REDIRECT_FROM_VM_PORT) + "counter drop comment \"redirect_from_vm\"\n" + rule +
         "iifname @vm_ports meta protocol ip6 " + first_icmpv6("137") +
         count(V6G_R_REDIRECT_FROM_VM_PORT) + "counter drop comment \"redirect_from_vm_raw\"\n" +
         // DHCPv6 server -> client traffic only from router ports.
         rule + "iifname @vm_ports meta protocol ip6 udp sport 547 " +
         count(V6G_R_DHCPV6_SERVER_FROM_VM_PORT) +
         "counter drop comment \"dhcp6_server_from_vm\"\n" + rule +
         "iifname @vm_ports meta protocol ip6 " + first_udp_sport(547) +
         count(V6G_R_DHCPV6_SERVER_FROM_VM_PORT) +
         "counter drop comment \"dhcp6_server_from_vm_raw\"\n" +
         // ...and nothing from a VM is addressed to a DHCPv6 client (port 546):
         // only servers and relays send there, whatever their source port
         // (atk6-fake_dhcps6 answers from an ephemeral port).
         rule + "iifname @vm_ports meta protocol ip6 udp dport 546 " +
         count(V6G_R_DHCPV6_SERVER_FROM_VM_PORT) +
         "counter drop comment \"dhcp6_to_client_from_vm\"\n" + rule +
         "iifname @vm_ports meta protocol ip6 " + first_udp_dport(546) +
         count(V6G_R_DHCPV6_SERVER_FROM_VM_PORT) +
         "counter drop comment \"dhcp6_to_client_from_vm_raw\"\n" +
         // RFC 7113/6980: a fragmented ICMPv6 or UDP datagram from a VM port
         // cannot be classified by its first fragment alone (atk6-fake_router26
         // -E F/D/o, ra6 -y); non-first fragments carry no L4 header at all.
         rule +
         "iifname @vm_ports meta protocol ip6 exthdr frag exists meta l4proto { icmpv6, udp } " +
         count(V6G_R_FRAG_FIRST_NO_UPPER) + "counter drop comment \"frag_hidden_l4\"\n" + rule +
         "iifname @vm_ports meta protocol ip6 frag frag-off != 0 " +
         count(V6G_R_FRAG_FIRST_NO_UPPER) + "counter drop comment \"frag_nonfirst_from_vm\"\n" +
         // Punts to the inspector (ports in the punt maps only; a map miss ends
         // the rule). Router-port RAs and fragments always go to a fail-closed
         // queue; ND, MLD and other extension headers to the port's queue of
         // its fail mode. Bridge prerouting sees a flooded frame once, so each
         // frame is queued once (the ip6 FORWARD hook would queue a copy per
         // egress port).
         rule +
         "iifname @router_ports meta protocol ip6 icmpv6 type nd-router-advert meta mark set "
         "iifname map "
         "@punt_closed goto punt\n" +
         rule + "iifname @router_ports meta protocol ip6 " + first_icmpv6("134") +
         "meta mark set iifname map @punt_closed goto punt\n" + rule +
         "iifname @vm_ports meta protocol ip6 exthdr frag exists meta mark set iifname map "
         "@punt_closed jump "
         "punt_vm\n" +
         rule +
         "iifname @vm_ports meta protocol ip6 icmpv6 type { nd-router-solicit, "
         "nd-neighbor-solicit, "
         "nd-neighbor-advert, mld-listener-query, mld-listener-report, mld-listener-done, "
         "mld2-listener-report } meta mark set iifname map @punt_open jump punt_vm\n" +
         rule + "iifname @vm_ports meta protocol ip6 " +
         first_icmpv6("{ 130, 131, 132, 133, 135, 136, 143 }") +
         "meta mark set iifname map @punt_open jump punt_vm\n" + rule +
         "iifname @vm_ports meta protocol ip6 exthdr hbh exists meta mark set iifname map "
         "@punt_open jump punt_vm\n" +
         rule +
         "iifname @vm_ports meta protocol ip6 exthdr rt exists meta mark set iifname map "
         "@punt_open jump punt_vm\n" +
         rule +
         "iifname @vm_ports meta protocol ip6 exthdr dst exists meta mark set iifname map "
         "@punt_open jump punt_vm\n" +
         // What the exthdr rules missed (their header walk read stale
         // bytes): an extension header first (hop-by-hop, routing, fragment,
         // destination options) cannot be classified here - the inspector
         // decides, fail-closed.
         rule +
         "iifname @vm_ports meta protocol ip6 ip6 nexthdr { 0, 43, 44, 51, 60 } meta mark set "
         "iifname "
         "map @punt_closed jump punt_vm\n" +
         // Without an inspector (empty punt maps) that frame would go on to
         // the source guard and be accepted from a bound source, so a rogue
         // RA behind extension headers in a guest's jumbo frame passed:
         // dropped unless it is MLD (unjudged_ext_header_drops).
         unjudged_ext_header_drops() +
         // Deep packet inspection ports: after the stateless drops, all their
         // IPv6 goes to the inspector (full header-chain validation), bound
         // sources included. Not through punt_vm's rate cap: that is the
         // price the port's owner asked for.
         rule + "iifname @dpi_ports meta protocol ip6 meta mark set iifname map @punt_open " +
         "goto punt\n" +
         // Source guard: bound (port, MAC, address) passes; with an inspector
         // any other source is punted (it learns from DAD and decides);
         // without one :: (DAD) and link-local pass so ND keeps working and
         // every other source is dropped. The binding check is bound6 (the
         // fast path's chain): bound ICMPv6 and bound frames with an
         // extension header no rule above took end there. The receive path has moved a VLAN tag out
         // of band: `vlan id` reads it there, `meta protocol` is the inner type. Other tag types
         // (802.1ad) match neither set: punted.
         rule + "iifname @sg_ports meta protocol ip6 jump bound6\n" + rule +
         "iifname @sg_ports meta protocol ip6 meta mark set iifname map @punt_open jump punt_vm\n" +
         rule + "iifname @sg_ports meta protocol ip6 ip6 saddr { ::, fe80::/10 } accept\n" +  //
         rule + "iifname @sg_ports meta protocol ip6 " + count(V6G_R_SOURCE_NOT_BOUND) +
         "counter drop comment \"source_not_bound\"\n";
}

// nft 1.0.6 has no "destroy": deleting a missing element fails the whole
// batch. "add" then "delete" in the same batch removes it whether or not it
// was there, which is what the Datapath contract asks for.
static std::string idempotent_delete(const char* set, const std::string& value) {
  return element("add", set, value) + element("delete", set, value);
}

std::string render_port(const datapath::PortSpec& port, bool add) {
  const std::string name = quoted(port.ifname);
  if (!add)
    return idempotent_delete("vm_ports", name) + idempotent_delete("router_ports", name) +
           idempotent_delete("sg_ports", name);
  return element("add", port.role == datapath::PortRole::kVm ? "vm_ports" : "router_ports", name);
}

std::string render_punt_port(const datapath::PortSpec& port, std::uint32_t closed_mark,
                             std::uint32_t open_mark, bool add) {
  const std::string name = quoted(port.ifname);
  const bool vm = port.role == datapath::PortRole::kVm;
  // Map elements are deleted by key; the caller only removes what it added
  // (the maps are flushed when punts are enabled).
  if (!add)
    return element("delete", "punt_closed", name) +
           (vm || monitor(port) ? element("delete", "punt_open", name) : std::string()) +
           (monitor(port) ? element("delete", "monitor_ports", name) : std::string()) +
           (dpi(port) && vm ? element("delete", "dpi_ports", name) : std::string()) +
           (inspects_every_frame(port) ? element("delete", "inspect_ports", name) : std::string());
  std::string out = element("add", "punt_closed", name + " : " + std::to_string(closed_mark));
  if (vm || monitor(port))
    out += element("add", "punt_open", name + " : " + std::to_string(open_mark));
  if (vm) out += element("add", "sg_ports", name);
  if (monitor(port)) out += element("add", "monitor_ports", name);
  if (dpi(port) && vm) out += element("add", "dpi_ports", name);
  if (inspects_every_frame(port)) out += element("add", "inspect_ports", name);
  return out;
}

namespace {

// One NFQUEUE target for a class: a single queue, or the range spread over
// the CPUs. Without the fan-out the kernel would hash flows over the range
// and wake a reader on another CPU.
std::string queue_target(unsigned first, unsigned count, bool bypass) {
  std::string out = "-j NFQUEUE ";
  out += count == 1
             ? "--queue-num " + std::to_string(first)
             : "--queue-balance " + std::to_string(first) + ":" + std::to_string(first + count - 1);
  if (bypass) out += " --queue-bypass";
  if (count > 1) out += " --queue-cpu-fanout";
  return out;
}

std::string hex_mark(std::uint32_t mark) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", mark);
  return text;
}

}  // namespace

std::string render_punt_ip6tables(std::uint16_t queue_base, std::uint16_t queues) {
  const unsigned n = std::max<unsigned>(queues, 1);
  // Every bridged IPv6 packet passes here: untagged ones leave at once.
  // Fail-closed classes have no bypass (no reader bound: dropped); fail-open
  // ones pass unread (the reader also sets NFQA_CFG_F_FAIL_OPEN for a full
  // queue).
  return "*raw\n:V6GUARD - [0:0]\n"
         "-A V6GUARD -m mark ! --mark " +
         hex_mark(kPuntTag) + "/" + hex_mark(kPuntTagMask) +
         " -j RETURN\n"
         "-A V6GUARD -m mark --mark " +
         hex_mark(kPuntClosedMark) + "/" + hex_mark(kPuntMatchMask) + " " +
         queue_target(queue_base, n, false) +
         "\n"
         "-A V6GUARD -m mark --mark " +
         hex_mark(kPuntOpenMark) + "/" + hex_mark(kPuntMatchMask) + " " +
         queue_target(queue_base + n, n, true) +
         "\n"
         "COMMIT\n";
  // The inspector clears the tag in its verdict (NFQA_MARK 0).
}

std::string render_punt_vlan_map() {
  std::string out;
  out.reserve(2 * 4096 * 32);
  for (const std::uint32_t klass : {kPuntClosedMark, kPuntOpenMark}) {
    out += "add element " + table_ref() + " punt_vlan { ";
    for (unsigned vlan = 0; vlan < 4096; ++vlan) {
      if (vlan != 0) out += ", ";
      out += hex_mark(klass) + " . " + std::to_string(vlan) + " : " +
             hex_mark(punt_mark(klass, static_cast<std::uint16_t>(vlan)));
    }
    out += " }\n";
  }
  return out;
}

std::span<const v6g_reason> counted_reasons() {
  static constexpr v6g_reason kCounted[] = {
      V6G_R_PUNT,
      V6G_R_RA_FROM_VM_PORT,
      V6G_R_REDIRECT_FROM_VM_PORT,
      V6G_R_DHCPV6_SERVER_FROM_VM_PORT,
      V6G_R_FRAG_FIRST_NO_UPPER,
      V6G_R_RA_SOURCE_NOT_ALLOWED,
      V6G_R_SOURCE_NOT_BOUND,
      V6G_R_PACKET_RATE_LIMIT,
      V6G_R_TUNNEL_BLOCKED,
      V6G_R_FAIL_CLOSED,
  };
  return kCounted;
}

std::string render_forget_counts(const std::string& ifname) {
  std::string out;
  for (const v6g_reason why : counted_reasons())
    out += idempotent_delete("port_counts", quoted(ifname) + " . " + std::to_string(why));
  return out;
}

std::vector<datapath::PortCounters> port_counts_from_json(std::string_view json) {
  // nft 1.0.6 prints each element as
  //   {"elem": {"val": {"concat": ["tap1", 64]}, "counter": {"packets": 3, "bytes": 147}}}
  // (an element added from userspace has no counter and is skipped). Port
  // names never contain quotes.
  std::vector<datapath::PortCounters> out;
  constexpr std::string_view kConcat = "\"concat\": [\"";
  constexpr std::string_view kPackets = "\"packets\": ";
  for (std::size_t at = json.find(kConcat); at != std::string_view::npos;) {
    const std::size_t next = json.find(kConcat, at + kConcat.size());
    const std::string_view elem = json.substr(at, next - at);
    at = next;
    const std::size_t name_end = elem.find('"', kConcat.size());
    const std::size_t comma = elem.find(", ", name_end);
    const std::size_t packets = elem.find(kPackets);
    if (name_end == std::string_view::npos || comma == std::string_view::npos ||
        packets == std::string_view::npos)
      continue;
    unsigned why = 0;
    std::uint64_t n = 0;
    const char* end = elem.data() + elem.size();
    if (std::from_chars(elem.data() + comma + 2, end, why).ec != std::errc{} ||
        std::from_chars(elem.data() + packets + kPackets.size(), end, n).ec != std::errc{} ||
        n == 0)
      continue;
    const std::string_view name = elem.substr(kConcat.size(), name_end - kConcat.size());
    auto port = std::find_if(out.begin(), out.end(),
                             [&](const datapath::PortCounters& p) { return p.ifname == name; });
    if (port == out.end()) {
      out.emplace_back();
      port = out.end() - 1;
      port->ifname = std::string(name);
    }
    const Reason r = static_cast<Reason>(why);
    auto slot = std::find_if(port->by_reason.begin(), port->by_reason.end(),
                             [&](const auto& e) { return e.first == r; });
    if (slot == port->by_reason.end())
      port->by_reason.emplace_back(r, n);
    else
      slot->second += n;
  }
  return out;
}

std::string render_source_guard(const std::string& ifname, bool add) {
  return add ? element("add", "sg_ports", quoted(ifname))
             : idempotent_delete("sg_ports", quoted(ifname));
}

std::string render_ra_source(const std::string& ifname, const Ip6Addr& source) {
  return element("add", "ra_guarded_ports", quoted(ifname)) +
         element("add", "ra_sources", quoted(ifname) + " . " + source.to_string());
}

std::string render_bindings(std::span<const datapath::Binding> bindings, bool add) {
  std::string untagged, tagged;
  for (const auto& b : bindings) {
    std::string& values = b.vlan == 0 ? untagged : tagged;
    if (!values.empty()) values += ", ";
    values += quoted(b.ifname) + " . ";
    if (b.vlan != 0) values += std::to_string(b.vlan) + " . ";
    values += b.mac.to_string() + " . " + b.addr.to_string();
  }
  std::string out;
  for (const auto& [set, values] : {std::pair{"bindings", &untagged}, {"vlan_bindings", &tagged}}) {
    if (values->empty()) continue;
    out += add ? element("add", set, *values) : idempotent_delete(set, *values);
  }
  return out;
}

}  // namespace v6g::nft
