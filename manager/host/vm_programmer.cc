#include "host/vm_programmer.h"

#include <charconv>
#include <set>

#include "config/firewall.h"
#include "vmprovisioner/v1/vm.pb.h"

namespace v6g::host {

namespace {

namespace pb = vmprovisioner::v1;

std::optional<std::uint16_t> parse_vlan(const std::string& text) {
  if (text.empty()) return std::uint16_t{0};
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > 4094) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// A prefix, or a bare address as its /128 (the config validates prefixes;
// stored configs from before that rule may hold addresses).
std::optional<Ip6Prefix> parse_destination(const std::string& text) {
  if (text.find('/') != std::string::npos) return Ip6Prefix::parse(text);
  auto addr = Ip6Addr::parse(text);
  if (!addr) return std::nullopt;
  return Ip6Prefix{*addr, 128};
}

bool parse_rules(const google::protobuf::RepeatedPtrField<std::string>& texts,
                 std::vector<FirewallRule>* out, const std::string& field, std::string* error) {
  for (int i = 0; i < texts.size(); ++i) {
    auto parsed = config::parse_firewall_rule(texts[i]);
    if (!parsed.ok()) {
      *error = field + "[" + std::to_string(i) + "] '" + texts[i] + "': " + parsed.error.message +
               " (at " + std::to_string(parsed.error.position) + ")";
      return false;
    }
    out->push_back(*parsed.rule);
  }
  return true;
}

// The port's firewall, or nullopt when the NIC gives nothing to enforce (no
// rules, destinations or limits: the port is not filtered). A direction with
// rules ends in the default deny; a direction without any rules is open, as
// an empty list is no ruleset (writing only ingress_rules must not cut the
// VM off from sending).
std::optional<PortFirewall> firewall_for(const pb::NetworkInterface& nic,
                                         const pb::VmConfig& config, const std::string& port,
                                         const VmProgrammerOptions& opts, std::string* error) {
  const auto& sp = nic.security_policy();
  // The NIC's own list wins; without one the VM-wide network policy applies.
  const auto& destinations = sp.allowed_destinations().empty()
                                 ? config.network_policy().allowed_destinations()
                                 : sp.allowed_destinations();
  const bool enforce = !sp.ingress_rules().empty() || !sp.egress_rules().empty() ||
                       !destinations.empty() || sp.bandwidth_limit_mbps() != 0 ||
                       sp.packet_rate_limit() != 0 || nic.qos().ingress_mbps() != 0 ||
                       nic.qos().egress_mbps() != 0;
  if (!enforce) return std::nullopt;
  PortFirewall fw;
  fw.port = port;
  fw.allow_non_ipv6 = opts.allow_non_ipv6;
  // The API's directions are the VM's: egress = what it sends.
  if (!parse_rules(sp.egress_rules(), &fw.from_vm, "egress_rules", error) ||
      !parse_rules(sp.ingress_rules(), &fw.to_vm, "ingress_rules", error))
    return std::nullopt;
  const FirewallRule allow_all = *config::parse_firewall_rule("allow all from any to any").rule;
  if (fw.from_vm.empty()) fw.from_vm.push_back(allow_all);
  if (fw.to_vm.empty()) fw.to_vm.push_back(allow_all);
  for (const auto& text : destinations) {
    auto prefix = parse_destination(text);
    if (!prefix) {
      *error = "allowed_destinations: bad prefix '" + text + "'";
      return std::nullopt;
    }
    fw.allowed_destinations.push_back(*prefix);
  }
  fw.bandwidth_limit_mbps = sp.bandwidth_limit_mbps();
  fw.packet_rate_limit = sp.packet_rate_limit();
  fw.from_vm_mbps = nic.qos().egress_mbps();
  fw.to_vm_mbps = nic.qos().ingress_mbps();
  if (sp.log_security_events()) fw.log_group = opts.log_group;
  if (auto st = validate(fw); !st.ok()) {
    *error = st.message();
    return std::nullopt;
  }
  return fw;
}

std::vector<store::PortRecord> ports_of(const api::VmPlan& plan, const pb::VmConfig* config) {
  if (!plan.ports.empty() || config == nullptr) return plan.ports;
  std::vector<store::PortRecord> out;
  for (const auto& nic : config->network()) {
    store::PortRecord port;
    port.ifname = nic.tap_device();
    port.bridge = nic.bridge_name();
    port.vlan = parse_vlan(nic.vlan_id()).value_or(0);
    port.mac = nic.mac_address();
    port.vm_id = plan.vm.id;
    out.push_back(std::move(port));
  }
  return out;
}

std::string yes_no(bool value) { return value ? "yes" : "no"; }

}  // namespace

std::optional<std::vector<VmPort>> vm_ports(const api::VmPlan& plan,
                                            const VmProgrammerOptions& opts, std::string* error) {
  pb::VmConfig config;
  if (!config.ParseFromString(plan.vm.config)) {
    *error = "vm " + plan.vm.id + ": stored config does not parse as vmprovisioner.v1.VmConfig";
    return std::nullopt;
  }
  return vm_ports(plan, config, opts, error);
}

std::optional<std::vector<VmPort>> vm_ports(const api::VmPlan& plan, const pb::VmConfig& config,
                                            const VmProgrammerOptions& opts, std::string* error) {
  std::map<std::string, const pb::NetworkInterface*> by_tap;
  for (const auto& nic : config.network())
    if (!nic.tap_device().empty()) by_tap[nic.tap_device()] = &nic;
  std::vector<VmPort> out;
  std::set<std::string> seen;
  for (const auto& port : ports_of(plan, &config)) {
    auto fail = [&](const std::string& why) -> std::optional<std::vector<VmPort>> {
      *error = "port " + port.ifname + ": " + why;
      return std::nullopt;
    };
    if (port.ifname.empty()) return fail("no tap name");
    if (!seen.insert(port.ifname).second) return fail("listed twice");
    auto it = by_tap.find(port.ifname);
    if (it == by_tap.end()) return fail("no network interface with this tap_device in the config");
    const pb::NetworkInterface& nic = *it->second;
    VmPort vp;
    vp.nic_id = nic.id();
    PortSpec& s = vp.spec;
    s.bridge = port.bridge.empty() ? nic.bridge_name() : port.bridge;
    s.port = port.ifname;
    s.vlan = port.vlan;
    s.vlan_mode = opts.vlan_mode;
    s.tap = opts.tap;
    if (auto mode = nic.options().find(kOptionTapMode); mode != nic.options().end()) {
      if (mode->second == "adopt") {
        s.create_tap = false;
      } else if (mode->second != "create") {
        return fail(std::string("options.") + kOptionTapMode + " must be create or adopt, got '" +
                    mode->second + "'");
      }
    }
    s.mld_snooping = nic.ipv6().security().enable_mld_snooping();
    s.mld_snooping_only_enable = true;
    s.isolated = nic.security_policy().tenant_isolation_level() == "strict";
    if (auto up = opts.uplinks.find(s.bridge); up != opts.uplinks.end()) s.uplink = up->second;
    std::string why;
    s.firewall = firewall_for(nic, config, port.ifname, opts, &why);
    if (!why.empty()) return fail(why);
    out.push_back(std::move(vp));
  }
  return out;
}

std::optional<api::VmPlan> plan_from_config(const std::string& vm_id, const pb::VmConfig& config,
                                            std::string* error) {
  api::VmPlan plan;
  plan.vm.id = vm_id;
  plan.vm.tenant_id = config.tenant_id();
  plan.vm.config = config.SerializeAsString();
  plan.vm.state = "created";
  for (int i = 0; i < config.network_size(); ++i) {
    const auto& nic = config.network(i);
    const std::string where = "network[" + std::to_string(i) + "]";
    if (nic.tap_device().empty() || nic.bridge_name().empty()) {
      *error = where + ": tap_device and bridge_name are required";
      return std::nullopt;
    }
    auto vlan = parse_vlan(nic.vlan_id());
    if (!vlan) {
      *error = where + ": bad vlan_id '" + nic.vlan_id() + "'";
      return std::nullopt;
    }
    store::PortRecord port;
    port.ifname = nic.tap_device();
    port.bridge = nic.bridge_name();
    port.vlan = *vlan;
    port.mac = nic.mac_address();
    port.vm_id = vm_id;
    plan.ports.push_back(std::move(port));
  }
  return plan;
}

std::vector<std::pair<std::string, std::string>> capability_status(const KernelCaps& caps,
                                                                   bool bridge_conntrack) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("host.bridge_vlan_filtering", yes_no(caps.bridge_vlan_filtering));
  out.emplace_back("host.vlan_8021q", yes_no(caps.vlan_8021q));
  out.emplace_back("host.port_isolation",
                   caps.port_isolation ? "yes" : "no (tenant_isolation_level strict is refused)");
  out.emplace_back("host.mld_snooping",
                   caps.mld_snooping ? "yes" : "no (enable_mld_snooping is refused)");
  out.emplace_back("host.tun", caps.tun ? "yes" : "no (taps can only be adopted)");
  out.emplace_back("host.bridge_conntrack",
                   bridge_conntrack ? "yes (stateful port firewall)"
                                    : "no (stateless port firewall: TCP replies pass by flags, "
                                      "UDP replies need a rule)");
  std::string mode;
  if (caps.bridge_vlan_filtering) {
    mode =
        "filtering (VLAN-aware tenant bridges, access ports PVID untagged; tagged uplink "
        "trunks)";
  } else if (caps.vlan_8021q) {
    mode =
        "bridge-per-vlan (no bridge VLAN filtering: each VLAN gets its own bridge "
        "<bridge>v<vid>; tagged uplinks through 802.1Q subinterfaces)";
  } else {
    mode =
        "bridge-per-vlan (neither bridge VLAN filtering nor 8021q: each VLAN gets its own "
        "bridge <bridge>v<vid>; tagged uplinks are refused)";
  }
  out.emplace_back("host.vlan_mode", mode);
  return out;
}

int ProgramReport::changed() const {
  int n = 0;
  for (const auto& step : steps) n += step.changed;
  return n;
}

VmHostProgrammer::VmHostProgrammer(VmProgrammerOptions opts)
    : VmHostProgrammer(std::move(opts), probe_kernel_caps()) {}

VmHostProgrammer::VmHostProgrammer(VmProgrammerOptions opts, const KernelCaps& caps)
    : opts_(std::move(opts)), caps_(caps) {}

std::vector<std::pair<std::string, std::string>> VmHostProgrammer::status_lines() {
  std::lock_guard lock(mu_);
  return capability_status(caps_, nft_.bridge_conntrack());
}

std::vector<std::string> VmHostProgrammer::firewall_ports() {
  std::lock_guard lock(mu_);
  return nft_.ports();
}

Status VmHostProgrammer::remove_firewalls(const std::vector<std::string>& ports) {
  std::lock_guard lock(mu_);
  return nft_.remove(ports);
}

std::optional<std::vector<HostPlan>> VmHostProgrammer::link_plans(const std::vector<VmPort>& ports,
                                                                  std::string* error) const {
  std::vector<HostPlan> plans;
  for (const auto& port : ports) {
    PortSpec spec = port.spec;
    spec.firewall.reset();  // all ports' firewalls go in one transaction at the end
    std::string why;
    auto plan = HostPlan::build(spec, caps_, &why);
    if (!plan) {
      *error = "port " + spec.port + ": " + why;
      return std::nullopt;
    }
    plans.push_back(std::move(*plan));
  }
  return plans;
}

Status VmHostProgrammer::program(const api::VmPlan& plan, ProgramReport* report) {
  std::lock_guard lock(mu_);
  if (auto st = nl_.open_status(); !st.ok()) return st;
  std::string why;
  auto ports = vm_ports(plan, opts_, &why);
  if (!ports) return Status::error(why);
  // Refuse what this kernel can't do before touching anything, and say so.
  for (const auto& port : *ports) {
    if (port.spec.isolated && !caps_.port_isolation)
      return Status::error("port " + port.spec.port +
                           ": tenant_isolation_level strict needs bridge port isolation, which "
                           "this kernel lacks");
    if (port.spec.mld_snooping && !caps_.mld_snooping)
      return Status::error("port " + port.spec.port +
                           ": enable_mld_snooping needs CONFIG_BRIDGE_IGMP_SNOOPING, which this "
                           "kernel lacks");
  }
  auto plans = link_plans(*ports, &why);
  if (!plans) return Status::error(why);

  Rollback rollback;
  auto unwind = [&rollback](std::string message) {
    if (auto st = rollback.run(); !st.ok()) message += "; " + st.message();
    return Status::error(message);
  };
  for (std::size_t i = 0; i < plans->size(); ++i) {
    const HostPlan& p = (*plans)[i];
    std::vector<StepReport> steps;
    // A failing plan undoes its own steps; the rollback log holds the earlier ports'.
    Status st = p.apply(nl_, nft_, &steps, &rollback);
    if (report != nullptr)
      for (auto& step : steps)
        report->steps.push_back({p.spec().port + ": " + step.name, step.changed});
    if (!st.ok()) return unwind("port " + p.spec().port + ": " + st.message());
    if (opts_.fail_after_port == static_cast<int>(i))
      return unwind("port " + p.spec().port + ": injected failure");
  }

  std::vector<PortFirewall> firewalls;
  std::vector<std::string> unfiltered;  // chains left from an earlier config go in the same batch
  for (const auto& port : *ports) {
    if (port.spec.firewall) {
      firewalls.push_back(*port.spec.firewall);
    } else {
      unfiltered.push_back(port.spec.port);
    }
  }
  int changed = 0;
  Status st = opts_.fail_firewall ? Status::error("injected failure")
                                  : nft_.apply(firewalls, &changed, unfiltered);
  if (report != nullptr) report->steps.push_back({"firewall", changed != 0});
  // One transaction: on failure the kernel kept the old rules, only links unwind.
  if (!st.ok()) return unwind("firewall: " + st.message());
  return Status();
}

Status VmHostProgrammer::unprogram(const api::VmPlan& plan, ProgramReport* report) {
  std::lock_guard lock(mu_);
  if (auto st = nl_.open_status(); !st.ok()) return st;
  std::string why;
  auto ports = vm_ports(plan, opts_, &why);
  if (!ports) {
    // Removal must not depend on a config that no longer parses: the port
    // records say which taps and bridges to look at.
    ports.emplace();
    for (const auto& record : ports_of(plan, nullptr)) {
      VmPort vp;
      vp.spec.bridge = record.bridge;
      vp.spec.port = record.ifname;
      vp.spec.vlan = record.vlan;
      vp.spec.vlan_mode = opts_.vlan_mode;
      if (auto up = opts_.uplinks.find(record.bridge); up != opts_.uplinks.end())
        vp.spec.uplink = up->second;
      ports->push_back(std::move(vp));
    }
  }
  Status first;
  std::vector<std::string> names;
  for (const auto& port : *ports) names.push_back(port.spec.port);
  int removed = 0;
  if (auto st = nft_.remove(names, &removed); !st.ok()) first = st;
  if (report != nullptr) report->steps.push_back({"remove firewall", removed != 0});
  auto plans = link_plans(*ports, &why);
  if (!plans) return first.ok() ? Status::error(why) : first;
  for (auto it = plans->rbegin(); it != plans->rend(); ++it) {
    std::vector<StepReport> steps;
    Status st = it->remove(nl_, nft_, &steps);
    if (report != nullptr)
      for (auto& step : steps)
        report->steps.push_back({it->spec().port + ": " + step.name, step.changed});
    if (!st.ok() && first.ok())
      first = Status::error("port " + it->spec().port + ": " + st.message());
  }
  return first;
}

}  // namespace v6g::host
