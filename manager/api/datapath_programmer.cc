#include "api/datapath_programmer.h"

#include <net/if.h>

namespace v6g::api {

datapath::PortSpec to_port_spec(const store::PortRecord& port, std::uint32_t ifindex) {
  datapath::PortSpec spec;
  spec.ifindex = ifindex;
  spec.ifname = port.ifname;
  spec.bridge = port.bridge;
  spec.role = static_cast<datapath::PortRole>(port.role);
  spec.fail_mode = static_cast<datapath::FailMode>(port.fail_mode);
  spec.flags = port.flags;
  spec.mac = MacAddr::parse(port.mac).value_or(MacAddr{});
  spec.vlan = port.vlan;
  return spec;
}

std::optional<datapath::Binding> to_binding(const store::BindingRecord& binding,
                                            std::uint32_t ifindex, std::uint16_t port_vlan) {
  const auto mac = MacAddr::parse(binding.mac);
  const auto addr = Ip6Addr::parse(binding.ip6);
  if (!mac || !addr) return std::nullopt;
  return datapath::Binding{ifindex, binding.ifname, datapath::frame_vlan(binding.vlan, port_vlan),
                           *mac, *addr};
}

namespace {

// The VLAN of the plan's port `ifname` (0 if the plan has no such port).
std::uint16_t port_vlan(const VmPlan& plan, const std::string& ifname) {
  for (const auto& p : plan.ports)
    if (p.ifname == ifname) return p.vlan;
  return 0;
}

}  // namespace

DatapathProgrammer::DatapathProgrammer(datapath::Datapath& datapath, Resolver resolve)
    : datapath_(datapath), resolve_(std::move(resolve)) {
  if (!resolve_) resolve_ = [](const std::string& name) { return ::if_nametoindex(name.c_str()); };
}

Status DatapathProgrammer::program_vm(const VmPlan& plan) {
  for (const auto& port : plan.ports) {
    const std::uint32_t ifindex = resolve_(port.ifname);
    if (ifindex == 0) return Status::error("no interface " + port.ifname + " to guard");
    if (auto s = datapath_.add_port(to_port_spec(port, ifindex)); !s) return s;
  }
  std::vector<datapath::Binding> bindings;
  for (const auto& b : plan.bindings) {
    auto binding = to_binding(b, resolve_(b.ifname), port_vlan(plan, b.ifname));
    if (!binding || binding->ifindex == 0) {
      return Status::error("unusable binding " + b.ifname + " " + b.mac + " " + b.ip6);
    }
    bindings.push_back(*binding);
  }
  return datapath_.add_bindings(bindings);
}

Status DatapathProgrammer::unprogram_vm(const VmPlan& plan) {
  // Best effort through every step: a missing tap must not keep the rest.
  Status first;
  std::vector<datapath::Binding> bindings;
  for (const auto& b : plan.bindings) {
    if (auto binding = to_binding(b, resolve_(b.ifname), port_vlan(plan, b.ifname)))
      bindings.push_back(*binding);
  }
  if (auto s = datapath_.remove_bindings(bindings); !s && first) first = s;
  for (const auto& port : plan.ports) {
    const std::uint32_t ifindex = resolve_(port.ifname);
    if (ifindex == 0) continue;  // the tap is gone, and the port with it
    if (auto s = datapath_.remove_port(ifindex); !s && first) first = s;
  }
  return first;
}

Status ChainedProgrammer::program_vm(const VmPlan& plan) {
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (auto s = steps_[i]->program_vm(plan); !s) {
      for (std::size_t j = i + 1; j-- > 0;) (void)steps_[j]->unprogram_vm(plan);
      return s;
    }
  }
  return {};
}

Status ChainedProgrammer::reprogram_vm(const VmPlan& plan) {
  Status first;
  for (auto* step : steps_) {
    if (auto s = step->reprogram_vm(plan); !s && first) first = s;
  }
  return first;
}

Status ChainedProgrammer::unprogram_vm(const VmPlan& plan) {
  Status first;
  for (std::size_t j = steps_.size(); j-- > 0;) {
    if (auto s = steps_[j]->unprogram_vm(plan); !s && first) first = s;
  }
  return first;
}

}  // namespace v6g::api
