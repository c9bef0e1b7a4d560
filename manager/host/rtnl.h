// Thin rtnetlink shell over libmnl for the host objects v6guard manages:
// bridges, bridge ports (master, VLANs, isolation, learning/flood), taps
// and link state. No shelling out to ip(8)/bridge(8).
#pragma once

#include <libmnl/libmnl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/status.h"

namespace v6g::host {

// Interface names are at most IFNAMSIZ-1 bytes; we also restrict the charset
// so names can be embedded in nft identifiers without quoting games.
bool valid_ifname(const std::string& name);

struct BridgeOptions {
  bool vlan_filtering = true;  // only sent when the kernel supports it
  bool mld_snooping = true;    // IFLA_BR_MCAST_SNOOPING
  bool mcast_querier = false;  // IFLA_BR_MCAST_QUERIER: the router queries, not us
};

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;   // IFLA_INFO_KIND: "bridge", "tun", "veth", "" ...
  std::string alias;  // IFLA_IFALIAS: carries our ownership marker
  MacAddr mac;
  int master = 0;  // ifindex of the bridge this link is enslaved to, 0 if none
  bool up = false;
  std::optional<BridgeOptions> bridge;  // kind "bridge": its current options
};

struct PortFlags {
  bool isolated = false;      // IFLA_BRPORT_ISOLATED: no forwarding to other isolated ports
  bool learning = true;       // IFLA_BRPORT_LEARNING
  bool unicast_flood = true;  // IFLA_BRPORT_UNICAST_FLOOD
};

class Rtnl {
 public:
  Rtnl();
  ~Rtnl();
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  Status open_status() const { return open_; }

  std::optional<LinkInfo> find_link(const std::string& name);
  std::vector<LinkInfo> links();
  std::vector<LinkInfo> bridge_ports(int bridge_ifindex);

  Status create_bridge(const std::string& name, const BridgeOptions& opts);
  Status set_bridge_options(int ifindex, const BridgeOptions& opts);
  // 802.1Q subinterface `name` of `parent` (needs CONFIG_VLAN_8021Q).
  Status create_vlan_subif(const std::string& name, int parent_ifindex, std::uint16_t vid);
  Status delete_link(int ifindex);
  Status set_up(int ifindex, bool up);
  Status set_master(int ifindex, int master_ifindex);  // 0 = release
  Status set_alias(int ifindex, const std::string& alias);
  Status set_port_flags(int ifindex, const PortFlags& flags);
  // Bridge VLAN filtering on a port (AF_BRIDGE IFLA_AF_SPEC/IFLA_BRIDGE_VLAN_INFO).
  Status vlan_add(int ifindex, std::uint16_t vid, bool pvid, bool untagged);
  Status vlan_del(int ifindex, std::uint16_t vid);  // absent vid is not an error
  // Port VLAN membership: (vid, pvid, untagged) per entry.
  struct PortVlan {
    std::uint16_t vid;
    bool pvid;
    bool untagged;
  };
  std::vector<PortVlan> port_vlans(int ifindex);
  std::optional<PortFlags> port_flags(int ifindex);  // nullopt: not a bridge port

 private:
  // Sends one request with NLM_F_ACK, runs `cb` on every reply message.
  int transact(struct nlmsghdr* nlh, mnl_cb_t cb, void* data);
  Status request(struct nlmsghdr* nlh, const char* what);

  struct mnl_socket* nl_ = nullptr;
  unsigned portid_ = 0;
  unsigned seq_ = 0;
  Status open_;
};

// Kernel capability probes. Each runs in a throwaway network namespace of a
// forked child, so they never create anything in the caller's namespace.
// The child allocates, so call this before starting threads (daemon startup).
struct KernelCaps {
  bool bridge_vlan_filtering = false;  // CONFIG_BRIDGE_VLAN_FILTERING
  bool vlan_8021q = false;             // CONFIG_VLAN_8021Q (subinterfaces)
  bool tun = false;                    // /dev/net/tun usable
  bool port_isolation = false;         // IFLA_BRPORT_ISOLATED sticks (4.18+)
  bool mld_snooping = false;           // CONFIG_BRIDGE_IGMP_SNOOPING: IFLA_BR_MCAST_SNOOPING sticks
};
KernelCaps probe_kernel_caps();

}  // namespace v6g::host
