// Pure text generation for the nft datapath: every change is rendered into one
// nft script and applied with a single nft_run_cmd_from_buffer (one netlink
// batch, atomic). Kept free of I/O so the unit test can check the text.
#pragma once

#include <span>
#include <string>

#include "datapath/datapath.h"

namespace v6g::nft {

inline constexpr const char* kTable = "v6guard";

// The bridge table: sets of VM/router port names, the binding set and the
// prerouting chain that drops RA/Redirect/DHCPv6-server from VM ports and
// enforces source bindings on ports in the sg_ports set.
std::string render_table();

// Port set membership. Adding puts a VM port into vm_ports (router/trusted
// ports into router_ports); deleting removes the name from every set.
std::string render_port(const datapath::PortSpec& port, bool add);

// Source guard membership for one port name.
std::string render_source_guard(const std::string& ifname, bool add);

// Restricts RAs from a router port to the given sources (called per source).
std::string render_ra_source(const std::string& ifname, const Ip6Addr& source);

// "add element"/"delete element" for a batch of bindings; empty when the span is.
std::string render_bindings(std::span<const datapath::Binding> bindings, bool add);

}  // namespace v6g::nft
