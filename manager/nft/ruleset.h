// Pure text generation for the nft datapath: every change is rendered into one
// nft script and applied with a single nft_run_cmd_from_buffer (one netlink
// batch, atomic). Kept free of I/O so the unit test can check the text.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datapath/datapath.h"
#include "nft/punt_mark.h"

namespace v6g::nft {

inline constexpr const char* kTable = "v6guard";

// The bridge table: sets of VM/router port names, the binding set and the
// prerouting chain that drops RA/Redirect/DHCPv6-server from VM ports and
// enforces source bindings on ports in the sg_ports set.
std::string render_table();

// Map fast_dispatch (pre's first rule): bound TCP/UDP skip pre's rule
// list. With inspect_ports_in_use it first skips the ports in inspect_ports.
std::string render_fast_path(bool inspect_ports_in_use);

// With punts on, every IPv6 frame of such a port goes to the inspector (the
// monitor_ports or dpi_ports rule): it must not take the fast path.
bool inspects_every_frame(const datapath::PortSpec& port);

// Port set membership. Adding puts a VM port into vm_ports (router/trusted
// ports into router_ports); deleting removes the name from every set.
std::string render_port(const datapath::PortSpec& port, bool add);

// Source guard membership for one port name.
std::string render_source_guard(const std::string& ifname, bool add);

// Restricts RAs from a router port to the given sources (called per source).
std::string render_ra_source(const std::string& ifname, const Ip6Addr& source);

// Punts to the nfqueue inspector. A punted frame leaves bridge prerouting with
// skb mark kPuntTag | its VLAN | its class (fail-closed or fail-open; see
// punt_mark.h); the ip6 raw table (reached through br_netfilter) queues it
// to the queue range of that class, the queue picked by the CPU handling the
// frame (--queue-cpu-fanout), so the inspector worker pinned to that CPU
// reads it without a cross-CPU wake-up. The inspector reads the VLAN back
// from the mark (ip6-family packets carry no NFQA_VLAN).
// Punts per second (and burst) a VM port may cause; beyond it drop (punt_rate).
inline constexpr unsigned kPuntRatePerPort = 2000;

// Puts a port into (or, add=false, takes it out of) the punt maps: router
// ports punt RAs to closed_mark; VM ports punt fragments to closed_mark, ND,
// MLD, extension headers and unbound sources to open_mark (equal to
// closed_mark for a fail-closed port) and get source guard. Removal deletes
// by key: only for a port that was added (with the same role). A port with
// V6G_PORT_F_MONITOR punts all its IPv6 to open_mark and is never dropped here.
std::string render_punt_port(const datapath::PortSpec& port, std::uint32_t closed_mark,
                             std::uint32_t open_mark, bool add);

// The elements of map punt_vlan: (class mark . VLAN id) -> punt_mark(class,
// VLAN) for both classes and every VLAN id 0..4095, so a tagged punt never
// misses (a miss would leave the VLAN out: the table drops such a frame).
std::string render_punt_vlan_map();

// ip6tables-restore --noflush input: chain V6GUARD in raw. kPuntClosedMark ->
// queues base..base+n-1, kPuntOpenMark -> base+n..base+2n-1 with
// --queue-bypass, each range with --queue-cpu-fanout (queue base + cpu % n)
// when n > 1. Classes are matched under kPuntMatchMask (any VLAN). The
// reader clears the tag.
std::string render_punt_ip6tables(std::uint16_t queue_base, std::uint16_t queues);

// Per-port counters: set port_counts holds one element per (input port,
// reason) a rule counted, each with its own packet counter. A full set would
// make the counting rule fail (and not drop), so it is sized far beyond
// ports x counted reasons.
inline constexpr unsigned kPortCountsSize = 1u << 20;
// Every reason a rule of the table counts (drops, V6G_R_PUNT for punts).
std::span<const v6g_reason> counted_reasons();
// Deletes a port's elements from port_counts (idempotent; on port removal,
// not on an upsert, so a role change keeps the figures).
std::string render_forget_counts(const std::string& ifname);
// (port . reason) -> packets from `nft -j list set bridge v6guard port_counts`.
std::vector<datapath::PortCounters> port_counts_from_json(std::string_view json);

// "add element"/"delete element" for a batch of bindings; empty when the span is.
std::string render_bindings(std::span<const datapath::Binding> bindings, bool add);

}  // namespace v6g::nft
