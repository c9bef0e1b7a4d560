// The kernel-facing half of v6guard behind one interface: the kmod datapath
// (genetlink to v6guard.ko) and the nft datapath (bridge-family nftables sets
// plus NFQUEUE punts) both implement it. The manager picks one at start-up.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/reason.h"
#include "common/status.h"

namespace v6g::datapath {

enum class PortRole : std::uint8_t {
  kVm = V6G_ROLE_VM,
  kRouter = V6G_ROLE_ROUTER,
  kTrusted = V6G_ROLE_TRUSTED,
};

enum class FailMode : std::uint8_t { kClosed = V6G_FAIL_CLOSED, kOpen = V6G_FAIL_OPEN };

struct PortSpec {
  std::uint32_t ifindex = 0;
  std::string ifname;  // bridge port (tap/veth) name
  std::string bridge;  // bridge it is enslaved to
  PortRole role = PortRole::kVm;
  std::uint16_t queue = 0;                 // nfqueue number the port's punts go to
  std::uint16_t queues = 1;                // kmod: punts to queue + cpu % queues (CPU-local)
  FailMode fail_mode = FailMode::kClosed;  // RA/DHCPv6-server classes always fail closed
  std::uint32_t flags = 0;                 // V6G_PORT_F_*
  MacAddr mac;                             // expected source MAC of the VM (MAC check)
  std::uint16_t vlan = 0;                  // 0 = untagged
};

struct Binding {
  std::uint32_t ifindex = 0;
  std::string ifname;
  std::uint16_t vlan = 0;  // the tag its frames carry on the port, 0 = untagged
  MacAddr mac;
  Ip6Addr addr;
  bool operator==(const Binding&) const = default;
};

// The VLAN a binding has in the datapath. The guard and the store key a
// binding by the VLAN it lives in; the datapaths match the tag the frame
// carries at the bridge port. A port's own VLAN (its pvid: a VM access port)
// arrives untagged, so it is 0 there; other VLANs (a trunk) keep their tag.
constexpr std::uint16_t frame_vlan(std::uint16_t binding_vlan, std::uint16_t port_vlan) {
  return binding_vlan == port_vlan ? 0 : binding_vlan;
}

struct PortCounters {
  std::uint32_t ifindex = 0;
  std::string ifname;
  // (reason, packets) pairs with non-zero counts.
  std::vector<std::pair<Reason, std::uint64_t>> by_reason;
};

class Datapath {
 public:
  virtual ~Datapath() = default;

  // "kmod" or "nft".
  virtual std::string_view name() const = 0;

  // Ports are upserted: calling again with the same ifindex replaces the spec.
  virtual Status add_port(const PortSpec& port) = 0;
  virtual Status remove_port(std::uint32_t ifindex) = 0;

  // Batched; adding an existing binding or removing a missing one is not an error.
  virtual Status add_bindings(std::span<const Binding> bindings) = 0;
  virtual Status remove_bindings(std::span<const Binding> bindings) = 0;

  virtual Status list_bindings(std::vector<Binding>& out) = 0;
  virtual Status counters(std::vector<PortCounters>& out) = 0;

  // Every port the kernel holds, also those an earlier (killed) process
  // added: ifname and ifindex (0 when the interface is gone), role where
  // known. For restart reconciliation; a datapath that can't tell says so.
  virtual Status list_ports(std::vector<PortSpec>& out) {
    (void)out;
    return Status::error(std::string(name()) + ": list_ports not supported");
  }
  // Removes a port as list_ports reported it, also one this process never
  // added. Default: by ifindex.
  virtual Status remove_listed_port(const PortSpec& port) { return remove_port(port.ifindex); }

  // Remove everything this datapath programmed (shutdown with --flush, tests).
  virtual Status flush() = 0;
};

}  // namespace v6g::datapath
