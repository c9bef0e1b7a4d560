// v6guard-kmodctl: program v6guard.ko directly (selftests, debugging).
//
//   port-set IFNAME --role vm|router|trusted [--queue N] [--queues N] [--fail open|closed]
//            [--flags N] [--mac MAC] [--vlan N]
//   port-del IFNAME
//   bind-add|bind-del IFNAME MAC ADDR [VLAN]
//   bind-file add|del FILE      lines: "IFNAME VLAN MAC ADDR"; prints rate
//   bindings                    list: IFNAME VLAN MAC ADDR
//   counters                    IFNAME REASON PACKETS, one line each
//   counter IFNAME REASON       packets for one port/reason (0 if none)
//   bind-churn IFNAME MAC ROUNDS  add then delete 10k bindings ROUNDS times
//   flush
//   events SECONDS              print drop events for that long
//   bad-attrs                   send malformed requests, print the errors
#include <linux/genetlink.h>
#include <net/if.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "netlink/kmod_datapath.h"

namespace {

using v6g::Status;
using v6g::datapath::Binding;
using v6g::netlink::KmodDatapath;

int usage() {
  std::cerr << "usage: v6guard-kmodctl port-set|port-del|bind-add|bind-del|bind-file|bindings|"
               "bind-churn|counters|counter|flush|events|bad-attrs ...\n";
  return 2;
}

int fail(const Status& s) {
  std::cerr << "v6guard-kmodctl: " << s.message() << "\n";
  return 1;
}

std::string ifname_of(std::uint32_t ifindex) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(ifindex, name) != nullptr ? name : std::to_string(ifindex);
}

bool parse_binding(const std::string& ifname, const std::string& vlan, const std::string& mac,
                   const std::string& addr, Binding& b) {
  auto m = v6g::MacAddr::parse(mac);
  auto a = v6g::Ip6Addr::parse(addr);
  if (!m || !a) return false;
  b.ifname = ifname;
  b.ifindex = if_nametoindex(ifname.c_str());
  b.vlan = static_cast<std::uint16_t>(std::stoul(vlan));
  b.mac = *m;
  b.addr = *a;
  return b.ifindex != 0;
}

int port_set(KmodDatapath& dp, std::vector<std::string> args) {
  if (args.empty()) return usage();
  v6g::datapath::PortSpec p;
  p.ifname = args[0];
  for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
    const std::string& k = args[i];
    const std::string& v = args[i + 1];
    if (k == "--role") {
      p.role = v == "router"    ? v6g::datapath::PortRole::kRouter
               : v == "trusted" ? v6g::datapath::PortRole::kTrusted
                                : v6g::datapath::PortRole::kVm;
    } else if (k == "--queue") {
      p.queue = static_cast<std::uint16_t>(std::stoul(v));
    } else if (k == "--queues") {
      p.queues = static_cast<std::uint16_t>(std::stoul(v));
    } else if (k == "--fail") {
      p.fail_mode = v == "open" ? v6g::datapath::FailMode::kOpen : v6g::datapath::FailMode::kClosed;
    } else if (k == "--flags") {
      p.flags = static_cast<std::uint32_t>(std::stoul(v, nullptr, 0));
    } else if (k == "--mac") {
      auto m = v6g::MacAddr::parse(v);
      if (!m) return usage();
      p.mac = *m;
    } else if (k == "--vlan") {
      p.vlan = static_cast<std::uint16_t>(std::stoul(v));
    } else {
      return usage();
    }
  }
  Status s = dp.add_port(p);
  return s.ok() ? 0 : fail(s);
}

int bind_file(KmodDatapath& dp, const std::string& mode, const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(Status::error("cannot read " + path));
  std::vector<Binding> all;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string ifname, vlan, mac, addr;
    if (!(ls >> ifname >> vlan >> mac >> addr)) continue;
    Binding b;
    if (!parse_binding(ifname, vlan, mac, addr, b))
      return fail(Status::error("bad binding line: " + line));
    all.push_back(b);
  }
  auto t0 = std::chrono::steady_clock::now();
  Status s = mode == "del" ? dp.remove_bindings(all) : dp.add_bindings(all);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) return fail(s);
  std::printf("%zu bindings %s in %.3f s (%.0f/s)\n", all.size(),
              mode == "del" ? "removed" : "added", secs,
              secs > 0 ? static_cast<double>(all.size()) / secs : 0.0);
  return 0;
}

// Leak check driver: ROUNDS x (add 10k, delete 10k) on one port.
int bind_churn(KmodDatapath& dp, const std::string& ifname, const std::string& mac, int rounds) {
  std::vector<Binding> batch;
  for (unsigned i = 0; i < 10000; ++i) {
    char addr[64];
    std::snprintf(addr, sizeof(addr), "2001:db8:c::%x:%x", i >> 16, i & 0xffff);
    Binding b;
    if (!parse_binding(ifname, "0", mac, addr, b)) return usage();
    batch.push_back(b);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) {
    if (Status s = dp.add_bindings(batch); !s.ok()) return fail(s);
    if (Status s = dp.remove_bindings(batch); !s.ok()) return fail(s);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d add/delete cycles in %.2f s\n", rounds * 10000, secs);
  return 0;
}

// Each malformed request must be refused with EINVAL (or ERANGE) and a message.
int bad_attrs(KmodDatapath& dp) {
  struct Case {
    const char* name;
    std::uint8_t cmd;
    void (*fill)(nlmsghdr*);
  };
  static const Case cases[] = {
      {"missing-ifindex", V6G_CMD_SET_PORT, [](nlmsghdr* n) { mnl_attr_put_u8(n, V6G_A_ROLE, 0); }},
      {"ifindex-zero", V6G_CMD_SET_PORT,
       [](nlmsghdr* n) {
         mnl_attr_put_u32(n, V6G_A_IFINDEX, 0);
         mnl_attr_put_u8(n, V6G_A_ROLE, 0);
       }},
      {"role-out-of-range", V6G_CMD_SET_PORT,
       [](nlmsghdr* n) {
         mnl_attr_put_u32(n, V6G_A_IFINDEX, 1);
         mnl_attr_put_u8(n, V6G_A_ROLE, 9);
       }},
      {"unknown-flags", V6G_CMD_SET_PORT,
       [](nlmsghdr* n) {
         mnl_attr_put_u32(n, V6G_A_IFINDEX, 1);
         mnl_attr_put_u8(n, V6G_A_ROLE, 0);
         mnl_attr_put_u32(n, V6G_A_FLAGS, 1U << 30);
       }},
      {"mac-5-bytes", V6G_CMD_SET_PORT,
       [](nlmsghdr* n) {
         mnl_attr_put_u32(n, V6G_A_IFINDEX, 1);
         mnl_attr_put_u8(n, V6G_A_ROLE, 0);
         const std::uint8_t mac[5] = {2, 0, 0, 0, 1};
         mnl_attr_put(n, V6G_A_MAC, sizeof(mac), mac);
       }},
      {"vlan-4095", V6G_CMD_SET_PORT,
       [](nlmsghdr* n) {
         mnl_attr_put_u32(n, V6G_A_IFINDEX, 1);
         mnl_attr_put_u8(n, V6G_A_ROLE, 0);
         mnl_attr_put_u16(n, V6G_A_VLAN, 4095);
       }},
      {"no-such-ifindex", V6G_CMD_SET_PORT,
       [](nlmsghdr* n) {
         mnl_attr_put_u32(n, V6G_A_IFINDEX, 0x7ffffff0);
         mnl_attr_put_u8(n, V6G_A_ROLE, 0);
       }},
      {"del-unknown-port", V6G_CMD_DEL_PORT,
       [](nlmsghdr* n) { mnl_attr_put_u32(n, V6G_A_IFINDEX, 0x7ffffff0); }},
      {"binding-addr-15-bytes", V6G_CMD_ADD_BINDINGS,
       [](nlmsghdr* n) {
         nlattr* l = mnl_attr_nest_start(n, V6G_A_BINDINGS);
         nlattr* e = mnl_attr_nest_start(n, V6G_A_BINDINGS_ENTRY);
         mnl_attr_put_u32(n, V6G_BA_IFINDEX, 1);
         const std::uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
         mnl_attr_put(n, V6G_BA_MAC, sizeof(mac), mac);
         const std::uint8_t addr[15] = {0x20, 0x01, 0x0d, 0xb8};
         mnl_attr_put(n, V6G_BA_ADDR, sizeof(addr), addr);
         mnl_attr_nest_end(n, e);
         mnl_attr_nest_end(n, l);
       }},
      {"binding-missing-mac", V6G_CMD_ADD_BINDINGS,
       [](nlmsghdr* n) {
         nlattr* l = mnl_attr_nest_start(n, V6G_A_BINDINGS);
         nlattr* e = mnl_attr_nest_start(n, V6G_A_BINDINGS_ENTRY);
         mnl_attr_put_u32(n, V6G_BA_IFINDEX, 1);
         const std::uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8};
         mnl_attr_put(n, V6G_BA_ADDR, sizeof(addr), addr);
         mnl_attr_nest_end(n, e);
         mnl_attr_nest_end(n, l);
       }},
      {"unknown-attribute", V6G_CMD_DEL_PORT,
       [](nlmsghdr* n) {
         mnl_attr_put_u32(n, V6G_A_IFINDEX, 1);
         mnl_attr_put_u32(n, V6G_A_MAX + 5, 1);
       }},
      {"output-only-attribute", V6G_CMD_DEL_PORT,
       [](nlmsghdr* n) {
         mnl_attr_put_u32(n, V6G_A_IFINDEX, 1);
         mnl_attr_put_u32(n, V6G_A_COUNT, 1);
       }},
  };
  for (const Case& c : cases) {
    v6g::netlink::Request req = dp.request(c.cmd);
    c.fill(req.nlh());
    v6g::netlink::KernelError kerr;
    Status s = dp.socket().call(req, {}, kerr);
    if (!s.ok()) return fail(s);
    std::printf("%s errno=%d %s\n", c.name, kerr.error,
                kerr.error != 0 ? v6g::netlink::describe(kerr).c_str() : "accepted");
  }
  return 0;
}

int events(KmodDatapath& dp, int seconds) {
  if (dp.events_group() == 0) return fail(Status::error("no events group"));
  if (Status s = dp.socket().join_group(dp.events_group()); !s.ok()) return fail(s);
  std::printf("listening\n");
  std::fflush(stdout);
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    Status s = dp.socket().receive(200, [](const nlmsghdr* nlh) {
      std::uint32_t ifindex = 0;
      std::uint16_t reason = 0;
      std::string addr = "-";
      v6g::netlink::for_each_attr(nlh, sizeof(genlmsghdr), [&](const nlattr* a) {
        auto t = mnl_attr_get_type(a);
        if (t == V6G_A_IFINDEX && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
          ifindex = mnl_attr_get_u32(a);
        if (t == V6G_A_REASON && mnl_attr_validate(a, MNL_TYPE_U16) == 0)
          reason = mnl_attr_get_u16(a);
        if (t == V6G_A_ADDR && mnl_attr_get_payload_len(a) == 16)
          addr = v6g::Ip6Addr::from_bytes(static_cast<const std::uint8_t*>(mnl_attr_get_payload(a)))
                     .to_string();
      });
      std::printf("event %s %s %s\n", ifname_of(ifindex).c_str(),
                  std::string(v6g::reason_name(static_cast<v6g::Reason>(reason))).c_str(),
                  addr.c_str());
      std::fflush(stdout);
    });
    if (!s.ok()) return fail(s);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  Status st;
  auto dp = KmodDatapath::open(st);
  if (!dp) return fail(st);

  if (cmd == "port-set") return port_set(*dp, args);
  if (cmd == "port-del" && args.size() == 1) {
    std::uint32_t ifindex = if_nametoindex(args[0].c_str());
    if (ifindex == 0) return fail(Status::error("no such interface " + args[0]));
    Status s = dp->remove_port(ifindex);
    return s.ok() ? 0 : fail(s);
  }
  if ((cmd == "bind-add" || cmd == "bind-del") && (args.size() == 3 || args.size() == 4)) {
    Binding b;
    if (!parse_binding(args[0], args.size() == 4 ? args[3] : "0", args[1], args[2], b))
      return usage();
    Status s = cmd == "bind-add" ? dp->add_bindings({&b, 1}) : dp->remove_bindings({&b, 1});
    return s.ok() ? 0 : fail(s);
  }
  if (cmd == "bind-churn" && args.size() == 3)
    return bind_churn(*dp, args[0], args[1], std::stoi(args[2]));
  if (cmd == "bind-file" && args.size() == 2) return bind_file(*dp, args[0], args[1]);
  if (cmd == "bindings") {
    std::vector<Binding> out;
    if (Status s = dp->list_bindings(out); !s.ok()) return fail(s);
    for (const Binding& b : out)
      std::printf("%s %u %s %s\n", ifname_of(b.ifindex).c_str(), b.vlan, b.mac.to_string().c_str(),
                  b.addr.to_string().c_str());
    return 0;
  }
  if (cmd == "counters" || (cmd == "counter" && args.size() == 2)) {
    std::vector<v6g::datapath::PortCounters> out;
    if (Status s = dp->counters(out); !s.ok()) return fail(s);
    std::uint64_t want = 0;
    for (const auto& pc : out) {
      for (const auto& [reason, packets] : pc.by_reason) {
        std::string rname(v6g::reason_name(reason));
        if (cmd == "counters")
          std::printf("%s %s %llu\n", ifname_of(pc.ifindex).c_str(), rname.c_str(),
                      static_cast<unsigned long long>(packets));
        else if (ifname_of(pc.ifindex) == args[0] && rname == args[1])
          want = packets;
      }
    }
    if (cmd == "counter") std::printf("%llu\n", static_cast<unsigned long long>(want));
    return 0;
  }
  if (cmd == "flush") {
    Status s = dp->flush();
    return s.ok() ? 0 : fail(s);
  }
  if (cmd == "events" && args.size() == 1) return events(*dp, std::stoi(args[0]));
  if (cmd == "bad-attrs") return bad_attrs(*dp);
  return usage();
}
