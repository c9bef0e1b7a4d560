#include "nft/ruleset.h"

namespace v6g::nft {
namespace {

std::string table_ref() { return std::string("bridge ") + kTable; }

std::string element(const char* verb, const char* set, const std::string& value) {
  return std::string(verb) + " element " + table_ref() + " " + set + " { " + value + " }\n";
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

std::string render_table() {
  const std::string t = table_ref();
  const std::string rule = "add rule " + t + " pre ";
  // Idempotent: "add" keeps existing sets and their elements; the chain is
  // flushed and rebuilt so a restart never stacks duplicate rules.
  return "add table " + t + "\n" +                                        //
         "add set " + t + " vm_ports { type ifname; }\n" +                //
         "add set " + t + " router_ports { type ifname; }\n" +            //
         "add set " + t + " sg_ports { type ifname; }\n" +                //
         "add set " + t + " ra_guarded_ports { type ifname; }\n" +        //
         "add set " + t + " ra_sources { type ifname . ipv6_addr; }\n" +  //
         "add set " + t +                                                 //
         " bindings { type ifname . ether_addr . ipv6_addr; size 1048576; }\n" + "add chain " + t +
         " pre { type filter hook prerouting priority -200; policy accept; }\n" + "flush chain " +
         t + " pre\n" +
         // RA Guard source criterion: a router port with configured RA sources
         // only passes RAs from those link-local addresses.
         rule +
         "iifname @ra_guarded_ports icmpv6 type nd-router-advert iifname . ip6 saddr != "
         "@ra_sources counter drop comment \"ra_source_not_allowed\"\n" +
         // Router advertisements and redirects only ever come from router ports.
         rule +
         "iifname @vm_ports ether type ip6 icmpv6 type { nd-router-advert, nd-redirect } "
         "counter drop comment \"ra_from_vm\"\n" +
         // DHCPv6 server -> client traffic only from router ports.
         rule +
         "iifname @vm_ports ether type ip6 udp sport 547 counter drop comment "
         "\"dhcp6_server_from_vm\"\n" +
         // RFC 7113/6980: a fragmented ICMPv6 or UDP datagram from a VM port
         // cannot be classified by its first fragment alone (atk6-fake_router26
         // -E F/D/o, ra6 -y); non-first fragments carry no L4 header at all.
         rule +
         "iifname @vm_ports ether type ip6 exthdr frag exists meta l4proto { icmpv6, udp } "
         "counter drop comment \"frag_hidden_l4\"\n" +
         rule +
         "iifname @vm_ports ether type ip6 frag frag-off != 0 counter drop comment "
         "\"frag_nonfirst_from_vm\"\n" +
         // Source guard: bound (port, MAC, address) passes; :: (DAD) and
         // link-local pass so ND keeps working; every other source is dropped.
         rule +
         "iifname @sg_ports ether type ip6 iifname . ether saddr . ip6 saddr @bindings accept\n" +
         rule + "iifname @sg_ports ether type ip6 ip6 saddr { ::, fe80::/10 } accept\n" +  //
         rule + "iifname @sg_ports ether type ip6 counter drop comment \"source_not_bound\"\n";
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

std::string render_source_guard(const std::string& ifname, bool add) {
  return add ? element("add", "sg_ports", quoted(ifname))
             : idempotent_delete("sg_ports", quoted(ifname));
}

std::string render_ra_source(const std::string& ifname, const Ip6Addr& source) {
  return element("add", "ra_guarded_ports", quoted(ifname)) +
         element("add", "ra_sources", quoted(ifname) + " . " + source.to_string());
}

std::string render_bindings(std::span<const datapath::Binding> bindings, bool add) {
  if (bindings.empty()) return {};
  std::string values;
  for (const auto& b : bindings) {
    if (!values.empty()) values += ", ";
    values += quoted(b.ifname) + " . " + b.mac.to_string() + " . " + b.addr.to_string();
  }
  return add ? element("add", "bindings", values) : idempotent_delete("bindings", values);
}

}  // namespace v6g::nft
