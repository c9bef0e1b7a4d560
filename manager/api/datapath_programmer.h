// HostProgrammer over a Datapath: programs a VM's ports and static bindings
// into the kernel (kmod or nft). The daemon chains it after the rtnetlink
// step that creates the taps (manager/host), e.g. with ChainedProgrammer.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "api/vm_manager.h"
#include "datapath/datapath.h"

namespace v6g::api {

datapath::PortSpec to_port_spec(const store::PortRecord& port, std::uint32_t ifindex);
// port_vlan: the VLAN of the binding's port (datapath::frame_vlan).
std::optional<datapath::Binding> to_binding(const store::BindingRecord& binding,
                                            std::uint32_t ifindex, std::uint16_t port_vlan);

class DatapathProgrammer final : public HostProgrammer {
 public:
  // ifname -> ifindex (0 = no such interface); if_nametoindex by default.
  using Resolver = std::function<std::uint32_t(const std::string&)>;
  explicit DatapathProgrammer(datapath::Datapath& datapath, Resolver resolve = {});

  Status program_vm(const VmPlan& plan) override;
  Status unprogram_vm(const VmPlan& plan) override;

 private:
  datapath::Datapath& datapath_;
  Resolver resolve_;
};

// Runs programmers in order; on failure unprograms the ones that succeeded
// (and the failing one) in reverse, so the chain is all-or-nothing too.
class ChainedProgrammer final : public HostProgrammer {
 public:
  explicit ChainedProgrammer(std::vector<HostProgrammer*> steps) : steps_(std::move(steps)) {}
  Status program_vm(const VmPlan& plan) override;
  Status unprogram_vm(const VmPlan& plan) override;
  // Every step's reprogram_vm, without unwinding: a restart must not take
  // down a running VM's taps because a later step failed. First error wins.
  Status reprogram_vm(const VmPlan& plan) override;

 private:
  std::vector<HostProgrammer*> steps_;
};

}  // namespace v6g::api
