#include "api/port_policy.h"

#include <net/if.h>

#include <algorithm>

#include "config/validate.h"

namespace v6g::api {
namespace {

namespace vmp = vmprovisioner::v1;

Ip6Prefix prefix_of(const Ip6Addr& addr, std::uint8_t len) {
  Ip6Prefix p{addr, len};
  for (std::size_t i = 0; i < 16; ++i) {
    const int keep = std::clamp(static_cast<int>(len) - static_cast<int>(8 * i), 0, 8);
    p.addr.bytes[i] &= static_cast<std::uint8_t>(0xff00 >> keep);
  }
  return p;
}

}  // namespace

std::vector<guard::PortPolicy> port_policies(const VmPlan& plan, const vmp::VmConfig& config,
                                             const IfindexResolver& resolve,
                                             std::span<const Ip6Prefix> learn_prefixes,
                                             std::string* error) {
  std::vector<guard::PortPolicy> out;
  for (const auto& nic : config.network()) {
    const auto port = std::find_if(plan.ports.begin(), plan.ports.end(),
                                   [&](const auto& p) { return p.ifname == nic.tap_device(); });
    if (port == plan.ports.end()) continue;
    guard::PortPolicy p;
    p.port = resolve(port->ifname);
    if (p.port == 0) {
      if (error) *error = "no interface " + port->ifname + " for the guard";
      return {};
    }
    p.role = static_cast<guard::PortRole>(port->role);
    p.vlan = port->vlan;
    p.mac = MacAddr::parse(port->mac).value_or(MacAddr{});
    p.vm_id = plan.vm.id;
    p.tenant_id = plan.vm.tenant_id;
    p.interface_id = nic.id().empty() ? port->ifname : nic.id();
    p.monitor = (port->flags & V6G_PORT_F_MONITOR) != 0;

    const auto& v6 = nic.ipv6();
    const auto& sec = v6.security();
    p.enable_ra_guard = sec.enable_ra_guard();
    for (const auto& text : sec.allowed_ra_sources()) {
      if (auto a = Ip6Addr::parse(text)) p.allowed_ra_sources.push_back(*a);
    }
    p.enable_source_guard = sec.enable_source_guard();
    p.strict_source_validation = sec.strict_source_validation();
    p.block_hop_by_hop = sec.block_hop_by_hop();
    p.block_routing_header = sec.block_routing_header();
    p.block_fragment_header = sec.block_fragment_header();
    p.block_destination_options = sec.block_destination_options();
    p.nd_rate_limit = sec.nd_rate_limit();
    p.icmpv6_rate_limit = sec.icmpv6_rate_limit();
    p.ra_rate_limit = sec.ra_rate_limit();
    p.enable_mld_snooping = sec.enable_mld_snooping();
    p.multicast_rate_limit = sec.multicast_rate_limit();

    p.enable_privacy_extensions = v6.enable_privacy_extensions();
    p.enable_stable_privacy = v6.enable_stable_privacy();
    if (v6.temp_valid_lifetime() > 0) {
      p.temp_valid_lifetime = static_cast<guard::Nanos>(v6.temp_valid_lifetime()) * guard::kSecond;
    }

    const auto& policy = nic.security_policy();
    p.packet_rate_limit = policy.packet_rate_limit();
    p.log_security_events = policy.log_security_events();

    // Validation put the gateway inside the VM's subnet: the one address
    // there the VM may never claim (DAD, NA, data) - the router's.
    if (const auto gw = Ip6Addr::parse(v6.gateway()); !v6.gateway().empty() && gw)
      p.gateways.push_back(*gw);
    std::string parse_error;
    if (const auto a = config::parse_address_with_prefix(v6.address(), &parse_error);
        !v6.address().empty() && a) {
      p.static_addresses.push_back(a->address);
      p.allocated_prefixes.push_back(prefix_of(a->address, a->prefix_len));
    } else {
      p.allocated_prefixes.assign(learn_prefixes.begin(), learn_prefixes.end());
    }
    out.push_back(std::move(p));
  }
  return out;
}

GuardPolicyProgrammer::GuardPolicyProgrammer(Upsert upsert, Remove remove, IfindexResolver resolve,
                                             std::vector<Ip6Prefix> learn_prefixes)
    : upsert_(std::move(upsert)),
      remove_(std::move(remove)),
      resolve_(std::move(resolve)),
      learn_prefixes_(std::move(learn_prefixes)) {
  if (!resolve_) resolve_ = [](const std::string& name) { return ::if_nametoindex(name.c_str()); };
}

Status GuardPolicyProgrammer::program_vm(const VmPlan& plan) {
  vmp::VmConfig config;
  if (!config.ParseFromString(plan.vm.config)) {
    return Status::error("vm " + plan.vm.id + ": stored config is unreadable");
  }
  std::string error;
  const auto policies = port_policies(plan, config, resolve_, learn_prefixes_, &error);
  if (!error.empty()) return Status::error(error);
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < policies.size(); ++i) {
    if (auto s = upsert_(policies[i]); !s) {
      for (std::size_t j = 0; j < i; ++j) remove_(policies[j].port);
      return Status::error("guard policy for port " + std::to_string(policies[i].port) + ": " +
                           s.message());
    }
  }
  // Remember by tap name: at unprogram time the tap may be gone already.
  for (const auto& port : plan.ports) {
    const auto it = std::find_if(policies.begin(), policies.end(),
                                 [&](const auto& p) { return p.port == resolve_(port.ifname); });
    if (it != policies.end()) pushed_[port.ifname] = it->port;
  }
  return {};
}

Status GuardPolicyProgrammer::unprogram_vm(const VmPlan& plan) {
  std::lock_guard lock(mu_);
  for (const auto& port : plan.ports) {
    guard::PortId id = 0;
    if (auto it = pushed_.find(port.ifname); it != pushed_.end()) {
      id = it->second;
      pushed_.erase(it);
    } else {
      id = resolve_(port.ifname);
    }
    if (id != 0) remove_(id);
  }
  return {};
}

}  // namespace v6g::api
