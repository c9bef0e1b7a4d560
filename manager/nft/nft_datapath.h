// Datapath for hosts that cannot load v6guard.ko: a bridge-family nftables
// table (see ruleset.h) programmed through libnftables. Every call renders one
// script and applies it as one netlink batch. Works inside a network
// namespace: it programs whichever netns the process runs in.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "datapath/datapath.h"

struct nft_ctx;

namespace v6g::nft {

class NftDatapath final : public datapath::Datapath {
 public:
  NftDatapath();
  ~NftDatapath() override;
  NftDatapath(const NftDatapath&) = delete;
  NftDatapath& operator=(const NftDatapath&) = delete;

  // Creates (or re-creates the chain of) the v6guard table.
  Status init();

  std::string_view name() const override { return "nft"; }
  Status add_port(const datapath::PortSpec& port) override;
  Status remove_port(std::uint32_t ifindex) override;
  Status add_bindings(std::span<const datapath::Binding> bindings) override;
  Status remove_bindings(std::span<const datapath::Binding> bindings) override;
  Status list_bindings(std::vector<datapath::Binding>& out) override;
  Status counters(std::vector<datapath::PortCounters>& out) override;
  // vm_ports and router_ports as the kernel holds them (names; ifindex of
  // the live interface or 0).
  Status list_ports(std::vector<datapath::PortSpec>& out) override;
  // By name from every port set and punt map, misses ignored.
  Status remove_listed_port(const datapath::PortSpec& port) override;
  Status flush() override;

  // nft-specific: drop IPv6 from this port unless (port, MAC, source) is bound
  // (link-local and :: stay allowed for ND/DAD).
  Status set_source_guard(const std::string& ifname, bool on);

  // nft-specific: RAs from this (router) port pass only from listed sources.
  Status allow_ra_source(const std::string& ifname, const Ip6Addr& source);

  // Attaches an nfqueue inspector: queues base..base+n-1 (fail-closed) and
  // base+n..base+2n-1 (fail-open) get ip6tables raw NFQUEUE rules matching
  // the punt class marks (br_netfilter, bridge-nf-call-ip6tables is switched
  // on), each class spread over its range by CPU (--queue-cpu-fanout), the
  // map punt_vlan is filled (a tagged punt's mark carries its VLAN), and
  // every router/VM port added from now on punts by class (PortSpec::queue
  // is not used). Ports already added are re-added. Idempotent; flush()
  // removes the ip6tables rules again.
  Status enable_punts(std::uint16_t queue_base, std::uint16_t queues);
  bool punts_enabled() const { return punts_; }
  // No inspector: nothing punts. Clears the punt maps and the ip6tables
  // hooks an earlier run with an inspector left (init() keeps them).
  Status disable_punts();

  // Runs one nft script; returns nft's error text on failure.
  Status run(const std::string& script);
  // Runs a command and returns its JSON output.
  Status run_json(const std::string& command, std::string& out);

 private:
  nft_ctx* ctx_ = nullptr;
  std::map<std::uint32_t, datapath::PortSpec> ports_;  // as added
  bool punts_ = false;
  bool fast_path_guarded_ = false;  // fast_dispatch skips inspect_ports
  // Punt map/set entries a previous run left (enable_punts): name -> the
  // maps and sets holding it. Kept fail-closed until the port is added.
  std::map<std::string, std::vector<std::string>> leftovers_;
  std::string forget_leftover(const std::string& ifname);
  // The fast-path rendering `ports` call for, when it differs from the
  // current one (else empty): appended to the batch that changes the ports.
  std::string fast_path_change(const std::map<std::uint32_t, datapath::PortSpec>& ports,
                               bool& guarded) const;
  std::string render_add(const datapath::PortSpec& port) const;
  std::string render_remove(const datapath::PortSpec& port) const;
  bool punted(const datapath::PortSpec& port) const {
    return punts_ && port.role != datapath::PortRole::kTrusted;
  }
};

// Packets counted per rule comment in `nft -j list chain ...` output (rules
// without a comment or counter are skipped; equal comments add up).
std::map<std::string, std::uint64_t> packets_by_comment(std::string_view json);

// Bindings in `nft -j list set` output of `bindings` (vlan 0) or
// `vlan_bindings` (ifindex left 0).
std::vector<datapath::Binding> bindings_from_json(std::string_view json);

// Runs ip6tables-restore --noflush -w with the given input.
Status ip6tables_restore(const std::string& input);

}  // namespace v6g::nft
