#include "netlink/kmod_datapath.h"

#include <linux/genetlink.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

namespace v6g::netlink {

using datapath::Binding;
using datapath::PortCounters;
using datapath::PortSpec;

std::uint32_t resolve_ifindex(std::uint32_t ifindex, const std::string& ifname) {
  if (ifindex != 0 || ifname.empty()) return ifindex;
  return if_nametoindex(ifname.c_str());
}

std::unique_ptr<KmodDatapath> KmodDatapath::open(Status& status) {
  auto sock = GenlSocket::open(status);
  if (!sock) return nullptr;
  std::uint16_t family = 0;
  std::vector<std::pair<std::string, std::uint32_t>> groups;
  std::uint32_t max_attr = 0;
  status = sock->resolve(V6G_GENL_NAME, family, &groups, &max_attr);
  if (!status.ok()) return nullptr;
  std::uint32_t events = 0;
  for (const auto& [name, id] : groups)
    if (name == V6G_GENL_MCGRP_EVENTS) events = id;
  auto dp = std::unique_ptr<KmodDatapath>(new KmodDatapath(std::move(sock), family, events));
  dp->max_attr_ = max_attr;
  return dp;
}

Request KmodDatapath::request(std::uint8_t cmd, std::size_t capacity) const {
  return Request(family_, cmd, V6G_GENL_VERSION, 0, capacity);
}

Status KmodDatapath::run(const char* what, Request& req, const GenlSocket::MessageFn& on_message) {
  KernelError kerr;
  Status s = sock_->call(req, on_message, kerr);
  if (!s.ok()) return Status::error(std::string("v6guard ") + what + ": " + s.message());
  if (kerr.error == 0) return Status();
  std::string msg = std::string("v6guard ") + what + ": " + describe(kerr);
  if (kerr.error == EPERM) msg += " (needs CAP_NET_ADMIN in this network namespace)";
  return Status::error(msg);
}

Status KmodDatapath::add_port(const PortSpec& port) {
  std::uint32_t ifindex = resolve_ifindex(port.ifindex, port.ifname);
  if (ifindex == 0)
    return Status::error("v6guard add port: no such interface '" + port.ifname + "'");
  Request req = request(V6G_CMD_SET_PORT);
  nlmsghdr* nlh = req.nlh();
  mnl_attr_put_u32(nlh, V6G_A_IFINDEX, ifindex);
  mnl_attr_put_u8(nlh, V6G_A_ROLE, static_cast<std::uint8_t>(port.role));
  mnl_attr_put_u16(nlh, V6G_A_QUEUE, port.queue);
  // Only when asked, and only to a module that knows it (an older one's
  // strict policy rejects the attribute and with it the port): without it
  // every punt goes to `queue`, read by the inspector's worker 0.
  if (port.queues > 1 && queues_supported()) mnl_attr_put_u16(nlh, V6G_A_QUEUES, port.queues);
  mnl_attr_put_u8(nlh, V6G_A_FAIL_MODE, static_cast<std::uint8_t>(port.fail_mode));
  mnl_attr_put_u32(nlh, V6G_A_FLAGS, port.flags);
  mnl_attr_put_u16(nlh, V6G_A_VLAN, port.vlan);
  if (!port.mac.is_zero())
    mnl_attr_put(nlh, V6G_A_MAC, port.mac.bytes.size(), port.mac.bytes.data());
  return run("add port", req);
}

Status KmodDatapath::remove_port(std::uint32_t ifindex) {
  Request req = request(V6G_CMD_DEL_PORT);
  mnl_attr_put_u32(req.nlh(), V6G_A_IFINDEX, ifindex);
  return run("remove port", req);
}

Status KmodDatapath::change_bindings(std::uint8_t cmd, std::span<const Binding> bindings) {
  const char* what = cmd == V6G_CMD_ADD_BINDINGS ? "add bindings" : "remove bindings";
  // Each entry is at most 56 bytes; size the buffer for a full batch.
  constexpr std::size_t kEntryBytes = 64;
  for (std::size_t i = 0; i < bindings.size(); i += kBatch) {
    auto chunk = bindings.subspan(i, std::min(kBatch, bindings.size() - i));
    Request req = request(cmd, 1024 + chunk.size() * kEntryBytes);
    nlmsghdr* nlh = req.nlh();
    nlattr* list = mnl_attr_nest_start(nlh, V6G_A_BINDINGS);
    for (const Binding& b : chunk) {
      std::uint32_t ifindex = resolve_ifindex(b.ifindex, b.ifname);
      if (ifindex == 0)
        return Status::error(std::string("v6guard ") + what + ": no such interface '" + b.ifname +
                             "'");
      nlattr* e = mnl_attr_nest_start(nlh, V6G_A_BINDINGS_ENTRY);
      mnl_attr_put_u32(nlh, V6G_BA_IFINDEX, ifindex);
      mnl_attr_put_u16(nlh, V6G_BA_VLAN, b.vlan);
      mnl_attr_put(nlh, V6G_BA_MAC, b.mac.bytes.size(), b.mac.bytes.data());
      mnl_attr_put(nlh, V6G_BA_ADDR, b.addr.bytes.size(), b.addr.bytes.data());
      mnl_attr_nest_end(nlh, e);
    }
    mnl_attr_nest_end(nlh, list);
    if (Status s = run(what, req); !s.ok()) return s;
  }
  return Status();
}

Status KmodDatapath::add_bindings(std::span<const Binding> bindings) {
  return change_bindings(V6G_CMD_ADD_BINDINGS, bindings);
}

Status KmodDatapath::remove_bindings(std::span<const Binding> bindings) {
  return change_bindings(V6G_CMD_DEL_BINDINGS, bindings);
}

namespace {

// Index the top-level attributes of one reply; validates lengths.
struct Attrs {
  const nlattr* a[V6G_A_MAX + 1] = {};
};

Attrs parse_top(const nlmsghdr* nlh) {
  Attrs out;
  mnl_attr_parse(
      nlh, sizeof(genlmsghdr),
      [](const nlattr* a, void* data) -> int {
        auto type = mnl_attr_get_type(a);
        if (type > V6G_A_MAX) return MNL_CB_OK;  // newer kernel: skip
        static_cast<Attrs*>(data)->a[type] = a;
        return MNL_CB_OK;
      },
      &out);
  return out;
}

bool fixed(const nlattr* a, std::size_t len) {
  return a != nullptr && mnl_attr_get_payload_len(a) == len;
}

}  // namespace

std::optional<Binding> decode_binding(const nlmsghdr* nlh) {
  Attrs t = parse_top(nlh);
  if (!fixed(t.a[V6G_A_IFINDEX], 4) || !fixed(t.a[V6G_A_MAC], 6) || !fixed(t.a[V6G_A_ADDR], 16))
    return std::nullopt;
  Binding b;
  b.ifindex = mnl_attr_get_u32(t.a[V6G_A_IFINDEX]);
  if (fixed(t.a[V6G_A_VLAN], 2)) b.vlan = mnl_attr_get_u16(t.a[V6G_A_VLAN]);
  std::memcpy(b.mac.bytes.data(), mnl_attr_get_payload(t.a[V6G_A_MAC]), 6);
  b.addr =
      Ip6Addr::from_bytes(static_cast<const std::uint8_t*>(mnl_attr_get_payload(t.a[V6G_A_ADDR])));
  return b;
}

std::optional<PortCounters> decode_port_counters(const nlmsghdr* nlh) {
  Attrs t = parse_top(nlh);
  if (!fixed(t.a[V6G_A_IFINDEX], 4)) return std::nullopt;
  PortCounters pc;
  pc.ifindex = mnl_attr_get_u32(t.a[V6G_A_IFINDEX]);
  if (const nlattr* list = t.a[V6G_A_COUNTERS]) {
    for_each_nested(list, [&](const nlattr* entry) {
      const nlattr* reason = nullptr;
      const nlattr* packets = nullptr;
      for_each_nested(entry, [&](const nlattr* f) {
        if (mnl_attr_get_type(f) == V6G_CA_REASON && mnl_attr_validate(f, MNL_TYPE_U16) == 0)
          reason = f;
        if (mnl_attr_get_type(f) == V6G_CA_PACKETS && mnl_attr_validate(f, MNL_TYPE_U64) == 0)
          packets = f;
      });
      if (reason != nullptr && packets != nullptr)
        pc.by_reason.emplace_back(static_cast<Reason>(mnl_attr_get_u16(reason)),
                                  mnl_attr_get_u64(packets));
    });
  }
  return pc;
}

Status KmodDatapath::list_bindings(std::vector<Binding>& out) {
  Request req = request(V6G_CMD_GET_BINDINGS);
  req.nlh()->nlmsg_flags |= NLM_F_DUMP;
  bool malformed = false;
  Status s = run("list bindings", req, [&](const nlmsghdr* nlh) {
    std::optional<Binding> b = decode_binding(nlh);
    if (!b) {
      malformed = true;
      return;
    }
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(b->ifindex, name) != nullptr) b->ifname = name;
    out.push_back(std::move(*b));
  });
  if (s.ok() && malformed) return Status::error("v6guard list bindings: malformed reply");
  return s;
}

Status KmodDatapath::counters(std::vector<PortCounters>& out) {
  Request req = request(V6G_CMD_GET_PORT);
  req.nlh()->nlmsg_flags |= NLM_F_DUMP;
  return run("counters", req, [&](const nlmsghdr* nlh) {
    std::optional<PortCounters> pc = decode_port_counters(nlh);
    if (!pc) return;
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(pc->ifindex, name) != nullptr) pc->ifname = name;
    out.push_back(std::move(*pc));
  });
}

Status KmodDatapath::list_ports(std::vector<PortSpec>& out) {
  std::vector<PortCounters> ports;
  if (Status s = counters(ports); !s) return s;
  for (auto& pc : ports) {
    PortSpec p;
    p.ifindex = pc.ifindex;
    p.ifname = std::move(pc.ifname);
    out.push_back(std::move(p));
  }
  return {};
}

Status KmodDatapath::flush() {
  Request req = request(V6G_CMD_FLUSH);
  return run("flush", req);
}

}  // namespace v6g::netlink
