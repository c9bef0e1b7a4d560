// A Datapath that programs nothing: for running the inspector where no fast
// path is wanted (the nfqueue bench, inspector tests on real queues).
#pragma once

#include "datapath/datapath.h"

namespace v6g::datapath {

class NullDatapath final : public Datapath {
 public:
  std::string_view name() const override { return "null"; }
  Status add_port(const PortSpec&) override { return {}; }
  Status remove_port(std::uint32_t) override { return {}; }
  Status add_bindings(std::span<const Binding>) override { return {}; }
  Status remove_bindings(std::span<const Binding>) override { return {}; }
  Status list_bindings(std::vector<Binding>&) override { return {}; }
  Status counters(std::vector<PortCounters>&) override { return {}; }
  Status flush() override { return {}; }
};

}  // namespace v6g::datapath
