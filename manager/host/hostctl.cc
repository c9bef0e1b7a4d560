// v6g-hostctl: apply/remove one VM port's host plan (bridge, tap, VLAN,
// isolation, firewall/QoS) from the command line. The daemon uses the same
// library; this tool exists for operators and the integration tests.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "host/plan.h"

namespace po = boost::program_options;
using namespace v6g::host;

namespace {

const char* mode_name(VlanMode m) {
  switch (m) {
    case VlanMode::kAuto:
      return "auto";
    case VlanMode::kFiltering:
      return "filtering";
    case VlanMode::kBridgePerVlan:
      return "bridge-per-vlan";
  }
  return "?";
}

int caps_cmd() {
  KernelCaps caps = probe_kernel_caps();
  std::printf("bridge_vlan_filtering %s\n", caps.bridge_vlan_filtering ? "yes" : "no");
  std::printf("vlan_8021q %s\n", caps.vlan_8021q ? "yes" : "no");
  std::printf("tun %s\n", caps.tun ? "yes" : "no");
  std::printf("vlan_mode_auto %s\n", caps.bridge_vlan_filtering ? "filtering" : "bridge-per-vlan");
  return 0;
}

int show_cmd(const std::string& name) {
  Rtnl nl;
  auto link = nl.find_link(name);
  if (!link) {
    std::fprintf(stderr, "%s: not found\n", name.c_str());
    return 1;
  }
  std::printf("ifindex %d\nmac %s\nkind %s\nmaster %d\nup %d\nowned %d\n", link->ifindex,
              link->mac.to_string().c_str(), link->kind.c_str(), link->master, link->up,
              link->alias == kOwnerMarker);
  for (const auto& v : nl.port_vlans(link->ifindex))
    std::printf("vlan %u%s%s\n", v.vid, v.pvid ? " pvid" : "", v.untagged ? " untagged" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command, bridge, port, uplink, vlan_mode = "auto";
  unsigned vlan = 0, owner = ~0U, group = ~0U, bandwidth = 0, packet_rate = 0;
  int fail_at = -1;
  int log_group = -1;
  std::vector<std::string> ingress, egress, allowed;
  po::options_description opts("v6g-hostctl <caps|apply|remove|show> [options]");
  // clang-format off
  opts.add_options()
      ("help,h", "this text")
      ("command", po::value(&command), "caps | apply | remove | show")
      ("bridge", po::value(&bridge), "tenant bridge")
      ("port", po::value(&port), "VM interface (tap); created unless --adopt")
      ("adopt", "use an existing interface; never deleted")
      ("uplink", po::value(&uplink), "uplink carrying the VLAN tagged (adopted, never deleted)")
      ("vlan", po::value(&vlan), "VLAN id (PVID, untagged)")
      ("vlan-mode", po::value(&vlan_mode), "auto | filtering | bridge-per-vlan")
      ("isolated", "strict tenant isolation (bridge port isolation)")
      ("no-mld-snooping", "disable MLD snooping on the bridge")
      ("mcast-querier", "make the bridge an MLD querier")
      ("owner", po::value(&owner), "tap owner uid")
      ("group", po::value(&group), "tap group gid")
      ("multi-queue", "create the tap with IFF_MULTI_QUEUE")
      ("firewall", "install the per-port firewall (implied by the options below)")
      ("ingress", po::value(&ingress), "rule for traffic from the VM (repeatable)")
      ("egress", po::value(&egress), "rule for traffic to the VM (repeatable)")
      ("allowed-destination", po::value(&allowed), "prefix the VM may send to (repeatable)")
      ("bandwidth-mbps", po::value(&bandwidth), "per-direction bandwidth limit, Mbit/s")
      ("packet-rate", po::value(&packet_rate), "per-direction packets/second limit")
      ("allow-non-ipv6", "let ARP/IPv4 through the firewall")
      ("log-group", po::value(&log_group), "log denied packets to this NFLOG group")
      ("inject-failure-at", po::value(&fail_at), "testing: fail step N (0-based)");
  // clang-format on
  po::positional_options_description pos;
  pos.add("command", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << e.what() << "\n" << opts;
    return 2;
  }
  if (vm.count("help") || command.empty()) {
    std::cout << opts;
    return command.empty() ? 2 : 0;
  }
  if (command == "caps") return caps_cmd();
  if (command == "show") return show_cmd(port.empty() ? bridge : port);

  PortSpec spec;
  spec.bridge = bridge;
  spec.port = port;
  spec.create_tap = vm.count("adopt") == 0;
  spec.uplink = uplink;
  spec.tap.owner = owner;
  spec.tap.group = group;
  spec.tap.multi_queue = vm.count("multi-queue") != 0;
  spec.vlan = static_cast<std::uint16_t>(vlan > 65535 ? 65535 : vlan);
  if (vlan_mode == "filtering") {
    spec.vlan_mode = VlanMode::kFiltering;
  } else if (vlan_mode == "bridge-per-vlan") {
    spec.vlan_mode = VlanMode::kBridgePerVlan;
  } else if (vlan_mode != "auto") {
    std::cerr << "unknown --vlan-mode " << vlan_mode << "\n";
    return 2;
  }
  spec.isolated = vm.count("isolated") != 0;
  spec.mld_snooping = vm.count("no-mld-snooping") == 0;
  spec.mcast_querier = vm.count("mcast-querier") != 0;
  if (vm.count("firewall") || !ingress.empty() || !egress.empty() || !allowed.empty() ||
      bandwidth != 0 || packet_rate != 0 || vm.count("allow-non-ipv6") || log_group >= 0) {
    PortFirewall fw;
    fw.bandwidth_limit_mbps = bandwidth;
    fw.packet_rate_limit = packet_rate;
    fw.allow_non_ipv6 = vm.count("allow-non-ipv6") != 0;
    if (log_group >= 0 && log_group <= 65535) fw.log_group = static_cast<std::uint16_t>(log_group);
    for (auto [texts, rules] : {std::pair{&ingress, &fw.ingress}, std::pair{&egress, &fw.egress}}) {
      for (const auto& text : *texts) {
        std::string why;
        auto rule = parse_firewall_rule_text(text, &why);
        if (!rule) {
          std::cerr << "bad rule '" << text << "': " << why << "\n";
          return 2;
        }
        rules->push_back(*rule);
      }
    }
    for (const auto& text : allowed) {
      auto prefix = v6g::Ip6Prefix::parse(text);
      if (!prefix) {
        std::cerr << "bad prefix '" << text << "'\n";
        return 2;
      }
      fw.allowed_destinations.push_back(*prefix);
    }
    spec.firewall = fw;
  }

  std::string why;
  auto plan = HostPlan::build(spec, probe_kernel_caps(), &why);
  if (!plan) {
    std::cerr << "invalid: " << why << "\n";
    return 2;
  }
  plan->inject_failure_at(fail_at);
  Rtnl nl;
  Nft nft;
  std::vector<StepReport> report;
  v6g::Status st;
  if (command == "apply") {
    st = plan->apply(nl, nft, &report);
  } else if (command == "remove") {
    st = plan->remove(nl, nft, &report);
  } else {
    std::cerr << "unknown command " << command << "\n";
    return 2;
  }
  int changed = 0;
  for (const auto& r : report) {
    std::printf("step %-32s %s\n", r.name.c_str(), r.changed ? "changed" : "unchanged");
    changed += r.changed;
  }
  std::printf("bridge %s mode %s changed %d\n", plan->bridge_name().c_str(),
              mode_name(plan->vlan_mode()), changed);
  if (!st.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", command.c_str(), st.message().c_str());
    return 1;
  }
  return 0;
}
