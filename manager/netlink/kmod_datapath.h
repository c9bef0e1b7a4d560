// datapath::Datapath over generic netlink to v6guard.ko (family "v6guard").
// Every call acts on the caller's network namespace, like the module.
#pragma once

#include <memory>
#include <optional>

#include "datapath/datapath.h"
#include "netlink/genl.h"

namespace v6g::netlink {

class KmodDatapath final : public datapath::Datapath {
 public:
  // Resolves the family; fails with a clear message when the module is absent.
  static std::unique_ptr<KmodDatapath> open(Status& status);

  std::string_view name() const override { return "kmod"; }
  Status add_port(const datapath::PortSpec& port) override;
  Status remove_port(std::uint32_t ifindex) override;
  Status add_bindings(std::span<const datapath::Binding> bindings) override;
  Status remove_bindings(std::span<const datapath::Binding> bindings) override;
  Status list_bindings(std::vector<datapath::Binding>& out) override;
  Status counters(std::vector<datapath::PortCounters>& out) override;
  // The GET_PORT dump (ifindex, name; role not decoded).
  Status list_ports(std::vector<datapath::PortSpec>& out) override;
  Status flush() override;

  // Bindings per netlink message; the module accepts up to V6G_MAX_BATCH.
  static constexpr std::size_t kBatch = 1024;

  // For tools and tests: build and send arbitrary requests of this family.
  Request request(std::uint8_t cmd, std::size_t capacity = 8192) const;
  GenlSocket& socket() { return *sock_; }
  std::uint32_t events_group() const { return events_group_; }
  // The loaded module takes V6G_A_QUEUES (CPU-local punt queues).
  bool queues_supported() const { return max_attr_ >= V6G_A_QUEUES; }

 private:
  KmodDatapath(std::unique_ptr<GenlSocket> sock, std::uint16_t family, std::uint32_t events)
      : sock_(std::move(sock)), family_(family), events_group_(events) {}
  Status change_bindings(std::uint8_t cmd, std::span<const datapath::Binding> bindings);
  Status run(const char* what, Request& req, const GenlSocket::MessageFn& on_message = {});

  std::unique_ptr<GenlSocket> sock_;
  std::uint16_t family_;
  std::uint32_t events_group_;
  std::uint32_t max_attr_ = 0;  // CTRL_ATTR_MAXATTR of the loaded module's family
};

// Pure decoders of the module's dump replies (fuzzed by manager/fuzz/netlink_fuzz.cc).
// ifname stays empty: the caller resolves it. nullopt = malformed/incomplete.
std::optional<datapath::Binding> decode_binding(const nlmsghdr* nlh);
std::optional<datapath::PortCounters> decode_port_counters(const nlmsghdr* nlh);

// Resolves Binding/PortSpec ifname to ifindex when ifindex is 0.
std::uint32_t resolve_ifindex(std::uint32_t ifindex, const std::string& ifname);

}  // namespace v6g::netlink
