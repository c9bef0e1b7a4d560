// v6g-hostctl: apply/remove one VM port's host plan (bridge, tap, VLAN,
// isolation, firewall/QoS) from the command line. The daemon uses the same
// library; this tool exists for operators and the integration tests.
#include <google/protobuf/util/json_util.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "host/fw_log.h"
#include "host/plan.h"
#include "host/vm_programmer.h"
#include "vmprovisioner/v1/vm.pb.h"

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
  // The same lines v6guardd shows in `v6guardctl status`.
  Nft nft;
  for (const auto& [key, value] : capability_status(caps, nft.bridge_conntrack()))
    std::printf("%s %s\n", key.c_str(), value.c_str());
  return 0;
}

// A VmConfig from JSON: either a CreateVmRequest ({"config": {...}}, the
// spec's examples) or a bare VmConfig.
bool load_vm_config(const std::string& path, vmprovisioner::v1::VmConfig* out) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  vmprovisioner::v1::CreateVmRequest request;
  if (google::protobuf::util::JsonStringToMessage(text.str(), &request).ok() &&
      request.has_config()) {
    *out = request.config();
    return true;
  }
  auto st = google::protobuf::util::JsonStringToMessage(text.str(), out);
  if (!st.ok()) {
    std::fprintf(stderr, "%s: not a VmConfig or CreateVmRequest: %s\n", path.c_str(),
                 st.ToString().c_str());
    return false;
  }
  return true;
}

// Prints the firewall denials logged to `group` (log_security_events), one
// line each, until `count` lines or `timeout_ms` without one.
int fw_log_cmd(std::uint16_t group, int count, int timeout_ms) {
  FirewallLogReader reader(group);
  if (auto st = reader.open_status(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  std::printf("listening group %u\n", group);
  std::fflush(stdout);
  int seen = 0;
  while (seen < count) {
    std::vector<FirewallDenial> batch;
    if (auto st = reader.read(&batch, timeout_ms); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 1;
    }
    if (batch.empty()) break;  // quiet for timeout_ms
    for (const auto& d : batch) {
      auto ev = to_security_event(d, 0);
      std::printf("%s %s %s %s src %s dst %s proto %d mac %s\n", ev.event_type.c_str(),
                  std::string(v6g::reason_name(ev.violation)).c_str(), d.port.c_str(),
                  d.from_vm ? "from_vm" : "to_vm", d.source ? d.source->to_string().c_str() : "-",
                  d.destination ? d.destination->to_string().c_str() : "-",
                  d.next_header ? int{*d.next_header} : -1,
                  d.source_mac ? d.source_mac->to_string().c_str() : "-");
      ++seen;
    }
    std::fflush(stdout);
  }
  return seen > 0 ? 0 : 1;
}

int vm_cmd(const std::string& command, const std::string& config_path, const std::string& vm_id,
           const VmProgrammerOptions& opts) {
  vmprovisioner::v1::VmConfig config;
  if (!load_vm_config(config_path, &config)) return 2;
  std::string why;
  auto plan = plan_from_config(vm_id, config, &why);
  if (!plan) {
    std::fprintf(stderr, "invalid: %s\n", why.c_str());
    return 2;
  }
  VmHostProgrammer programmer(opts);
  ProgramReport report;
  v6g::Status st = command == "vm-program" ? programmer.program(*plan, &report)
                                           : programmer.unprogram(*plan, &report);
  for (const auto& r : report.steps)
    std::printf("step %-40s %s\n", r.name.c_str(), r.changed ? "changed" : "unchanged");
  std::printf("vm %s ports %zu changed %d\n", vm_id.c_str(), plan->ports.size(), report.changed());
  if (!st.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", command.c_str(), st.message().c_str());
    return 1;
  }
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
  std::vector<std::string> ingress, egress, allowed, vm_uplinks;
  std::string config_path, vm_id = "vm";
  int fail_after_port = -1, fw_log_count = 1, fw_log_timeout_ms = 5000;
  po::options_description opts(
      "v6g-hostctl <caps|apply|remove|show|vm-program|vm-unprogram|fw-log> [options]");
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
      ("ingress", po::value(&ingress), "ingress_rules: rule for traffic to the VM (repeatable)")
      ("egress", po::value(&egress), "egress_rules: rule for traffic from the VM (repeatable)")
      ("allowed-destination", po::value(&allowed), "prefix the VM may send to (repeatable)")
      ("bandwidth-mbps", po::value(&bandwidth), "per-direction bandwidth limit, Mbit/s")
      ("packet-rate", po::value(&packet_rate), "per-direction packets/second limit")
      ("allow-non-ipv6", "let ARP/IPv4 through the firewall")
      ("log-group", po::value(&log_group), "log denied packets to this NFLOG group")
      ("inject-failure-at", po::value(&fail_at), "testing: fail step N (0-based)")
      ("config", po::value(&config_path), "vm-*: VmConfig or CreateVmRequest JSON file")
      ("vm-id", po::value(&vm_id), "vm-*: the VM's id")
      ("vm-uplink", po::value(&vm_uplinks), "vm-*: BRIDGE=UPLINK (repeatable)")
      ("inject-failure-after-port", po::value(&fail_after_port),
       "vm-program testing: fail after port N's link steps")
      ("inject-firewall-failure", "vm-program testing: fail the firewall transaction")
      ("count", po::value(&fw_log_count), "fw-log: stop after this many denials (default 1)")
      ("timeout-ms", po::value(&fw_log_timeout_ms), "fw-log: stop after this long without one");
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
  if (command == "fw-log")
    return fw_log_cmd(
        static_cast<std::uint16_t>(log_group < 0 ? kDefaultFirewallLogGroup : log_group),
        fw_log_count, fw_log_timeout_ms);
  if (command == "vm-program" || command == "vm-unprogram") {
    VmProgrammerOptions vopts;
    vopts.tap.owner = owner;
    vopts.tap.group = group;
    vopts.tap.multi_queue = vm.count("multi-queue") != 0;
    vopts.allow_non_ipv6 = vm.count("allow-non-ipv6") != 0;
    if (log_group >= 0 && log_group <= 65535)
      vopts.log_group = static_cast<std::uint16_t>(log_group);
    if (vlan_mode == "filtering") {
      vopts.vlan_mode = VlanMode::kFiltering;
    } else if (vlan_mode == "bridge-per-vlan") {
      vopts.vlan_mode = VlanMode::kBridgePerVlan;
    } else if (vlan_mode != "auto") {
      std::cerr << "unknown --vlan-mode " << vlan_mode << "\n";
      return 2;
    }
    for (const auto& entry : vm_uplinks) {
      auto eq = entry.find('=');
      if (eq == std::string::npos) {
        std::cerr << "--vm-uplink wants BRIDGE=UPLINK\n";
        return 2;
      }
      vopts.uplinks[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    vopts.fail_after_port = fail_after_port;
    vopts.fail_firewall = vm.count("inject-firewall-failure") != 0;
    if (config_path.empty()) {
      std::cerr << command << " needs --config\n";
      return 2;
    }
    return vm_cmd(command, config_path, vm_id, vopts);
  }

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
    for (auto [texts, rules] : {std::pair{&ingress, &fw.to_vm}, std::pair{&egress, &fw.from_vm}}) {
      for (const auto& text : *texts) {
        auto parsed = v6g::config::parse_firewall_rule(text);
        if (!parsed.ok()) {
          std::cerr << "bad rule '" << text << "' at " << parsed.error.position << ": "
                    << parsed.error.message << "\n";
          return 2;
        }
        rules->push_back(*parsed.rule);
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
