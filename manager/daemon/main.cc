// v6guardd: picks and programs the datapath, then runs the daemon's parts
// (daemon/part.h: inspector, control plane) until SIGTERM/SIGINT.
//
// Config (Boost.Program_options syntax, same keys as the flags):
//   port = vm1p:vm            # NAME:ROLE[:MAC], ROLE is vm | router | trusted
//   bind = vm1p,02:00:00:00:00:01,2600:beef:1000:100::10   # static binding
//   learn-prefix = 2600:beef:1000:100::/64   # VM ports learn (SLAAC/DHCPv6) inside it
//   ra-prefix = uplink,2600:beef:1000:100::/64 # router port RAs may announce only these
// A port with at least one static binding gets source guard; with the
// inspector (default) every VM port does, and learns bindings from DAD.
// Static ports and bindings also become guard PortPolicies.
#include <net/if.h>
#include <signal.h>
#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/part.h"
#include "netlink/kmod_datapath.h"
#include "nft/nft_datapath.h"

namespace po = boost::program_options;
using v6g::datapath::Binding;
using v6g::datapath::PortRole;
using v6g::datapath::PortSpec;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t at = s.find(sep); at != std::string::npos; at = s.find(sep, start)) {
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

bool parse_port(const std::string& text, PortSpec& port, std::string& error) {
  // MAC addresses contain ':', so split NAME and ROLE off the front only.
  const std::size_t a = text.find(':');
  if (a == std::string::npos) return error = "port needs NAME:ROLE: " + text, false;
  const std::size_t b = text.find(':', a + 1);
  port.ifname = text.substr(0, a);
  const std::string role =
      text.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  if (role == "vm") {
    port.role = PortRole::kVm;
  } else if (role == "router") {
    port.role = PortRole::kRouter;
  } else if (role == "trusted") {
    port.role = PortRole::kTrusted;
  } else {
    return error = "unknown port role '" + role + "'", false;
  }
  if (b != std::string::npos) {
    auto mac = v6g::MacAddr::parse(text.substr(b + 1));
    if (!mac) return error = "bad MAC in port " + text, false;
    port.mac = *mac;
  }
  port.ifindex = if_nametoindex(port.ifname.c_str());
  if (port.ifindex == 0) return error = "no such interface " + port.ifname, false;
  return true;
}

bool parse_binding(const std::string& text, Binding& b, std::string& error) {
  const auto parts = split(text, ',');
  if (parts.size() != 3) return error = "bind needs IFNAME,MAC,ADDR: " + text, false;
  auto mac = v6g::MacAddr::parse(parts[1]);
  auto addr = v6g::Ip6Addr::parse(parts[2]);
  if (!mac || !addr) return error = "bad MAC or address in bind " + text, false;
  b.ifname = parts[0];
  b.ifindex = if_nametoindex(b.ifname.c_str());
  b.mac = *mac;
  b.addr = *addr;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("v6guardd options");
  opts.add_options()("help,h", "show this help")("config", po::value<std::string>(),
                                                 "config file (same keys as the flags)")(
      "datapath", po::value<std::string>()->default_value("auto"),
      "nft | kmod | auto (kmod when the v6guard module is loaded, else nft)")(
      "port", po::value<std::vector<std::string>>()->composing(), "NAME:ROLE[:MAC]")(
      "bind", po::value<std::vector<std::string>>()->composing(), "IFNAME,MAC,ADDR")(
      "ra-source", po::value<std::vector<std::string>>()->composing(),
      "IFNAME,LLADDR: RAs from router port IFNAME only from this source (repeatable)")(
      "ra-prefix", po::value<std::vector<std::string>>()->composing(),
      "IFNAME,PREFIX: RAs from router port IFNAME may only announce prefixes inside these")(
      "learn-prefix", po::value<std::vector<std::string>>()->composing(),
      "PREFIX: static VM ports learn bindings inside it (link-local always)")(
      "max-bindings", po::value<unsigned>()->default_value(16), "bindings per static VM port")(
      "nd-rate-limit", po::value<unsigned>()->default_value(0),
      "ND packets/s per static VM port (0 = unlimited)")(
      "fail-open", po::bool_switch(),
      "static ports fail open for ND/MLD/unknown sources when the inspector is down or full "
      "(RA, DHCPv6-server and fragments always fail closed)")(
      "flush-on-exit", po::bool_switch(),
      "remove the datapath's rules on exit (default: "
      "keep them, fail closed)");
  std::vector<std::unique_ptr<v6g::daemon::Part>> parts;
  parts.push_back(v6g::daemon::make_inspector_part());
  parts.push_back(v6g::daemon::make_control_part());
  for (auto& part : parts) part->add_options(opts);

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("config"))
      po::store(po::parse_config_file(vm["config"].as<std::string>().c_str(), opts), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "v6guardd: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  auto strings = [&](const char* key) {
    return vm.count(key) ? vm[key].as<std::vector<std::string>>() : std::vector<std::string>{};
  };

  std::vector<PortSpec> ports;
  std::vector<Binding> bindings;
  std::string error;
  for (const auto& text : strings("port")) {
    PortSpec p;
    if (!parse_port(text, p, error)) return std::cerr << "v6guardd: " << error << "\n", 2;
    if (vm["fail-open"].as<bool>()) p.fail_mode = v6g::datapath::FailMode::kOpen;
    ports.push_back(p);
  }
  for (const auto& text : strings("bind")) {
    Binding b;
    if (!parse_binding(text, b, error)) return std::cerr << "v6guardd: " << error << "\n", 2;
    bindings.push_back(b);
  }
  std::map<std::string, std::vector<v6g::Ip6Addr>> ra_sources;
  for (const auto& text : strings("ra-source")) {
    const auto fields = split(text, ',');
    const auto addr = fields.size() == 2 ? v6g::Ip6Addr::parse(fields[1]) : std::nullopt;
    if (!addr) return std::cerr << "v6guardd: ra-source needs IFNAME,ADDR: " << text << "\n", 2;
    ra_sources[fields[0]].push_back(*addr);
  }
  std::map<std::string, std::vector<v6g::Ip6Prefix>> ra_prefixes;
  for (const auto& text : strings("ra-prefix")) {
    const auto fields = split(text, ',');
    const auto prefix = fields.size() == 2 ? v6g::Ip6Prefix::parse(fields[1]) : std::nullopt;
    if (!prefix) return std::cerr << "v6guardd: ra-prefix needs IFNAME,PREFIX: " << text << "\n", 2;
    ra_prefixes[fields[0]].push_back(*prefix);
  }
  std::vector<v6g::Ip6Prefix> learn_prefixes;
  for (const auto& text : strings("learn-prefix")) {
    const auto prefix = v6g::Ip6Prefix::parse(text);
    if (!prefix) return std::cerr << "v6guardd: bad learn-prefix " << text << "\n", 2;
    learn_prefixes.push_back(*prefix);
  }

  // Block the signals before anything else so sigwait() owns them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto check = [](const v6g::Status& s) {
    if (!s) std::cerr << "v6guardd: " << s.message() << "\n";
    return s.ok();
  };

  // Datapath choice: kmod needs the module loaded and its genl family.
  const std::string want = vm["datapath"].as<std::string>();
  if (want != "nft" && want != "kmod" && want != "auto")
    return std::cerr << "v6guardd: --datapath must be nft, kmod or auto\n", 2;
  std::unique_ptr<v6g::datapath::Datapath> datapath;
  std::string reason;
  v6g::nft::NftDatapath* nft = nullptr;
  if (want != "nft") {
    struct stat st {};
    const bool loaded = ::stat("/sys/module/v6guard", &st) == 0;
    v6g::Status status;
    if (loaded) datapath = v6g::netlink::KmodDatapath::open(status);
    if (datapath) {
      reason = want == "kmod" ? "kmod (selected with --datapath)"
                              : "kmod (auto: module v6guard loaded, genl family resolved)";
    } else if (want == "kmod") {
      std::cerr << "v6guardd: --datapath kmod: "
                << (loaded ? status.message() : std::string("module v6guard is not loaded"))
                << "\n";
      return 1;
    } else {
      reason = loaded ? "nft (auto: module loaded but " + status.message() + ")"
                      : "nft (auto: /sys/module/v6guard absent)";
    }
  } else {
    reason = "nft (selected with --datapath)";
  }
  if (!datapath) {
    auto dp = std::make_unique<v6g::nft::NftDatapath>();
    nft = dp.get();
    if (!check(dp->init())) return 1;
    datapath = std::move(dp);
  }

  v6g::daemon::DaemonContext ctx;
  ctx.datapath = datapath.get();
  ctx.datapath_reason = reason;
  std::size_t started = 0;
  for (; started < parts.size(); ++started)
    if (!check(parts[started]->start(vm, ctx))) break;
  auto stop_parts = [&] {
    while (started > 0) parts[--started]->stop();
  };
  if (started < parts.size()) return stop_parts(), 1;

  // Static configuration, through ctx.datapath (the inspector's shared
  // handle assigns punt queues) and the guard engines.
  bool ok = true;
  for (const auto& p : ports) ok = ok && check(ctx.datapath->add_port(p));
  ok = ok && check(ctx.datapath->add_bindings(bindings));
  if (nft != nullptr) {
    std::set<std::string> guarded;
    for (const auto& b : bindings) guarded.insert(b.ifname);
    for (const auto& name : guarded) ok = ok && check(nft->set_source_guard(name, true));
    for (const auto& [name, addrs] : ra_sources)
      for (const auto& a : addrs) ok = ok && check(nft->allow_ra_source(name, a));
  }
  if (ctx.guard != nullptr) {
    for (const auto& p : ports) {
      v6g::guard::PortPolicy policy;
      policy.port = p.ifindex;
      policy.role = p.role;
      policy.mac = p.mac;
      policy.interface_id = p.ifname;
      // The cap bounds what a VM can claim; configured addresses come on top.
      policy.max_bindings = vm["max-bindings"].as<unsigned>();
      policy.nd_rate_limit = vm["nd-rate-limit"].as<unsigned>();
      if (p.role == PortRole::kVm) policy.allocated_prefixes = learn_prefixes;
      for (const auto& b : bindings)
        if (b.ifindex == p.ifindex) policy.static_addresses.push_back(b.addr);
      policy.max_bindings += static_cast<std::uint32_t>(policy.static_addresses.size());
      if (auto it = ra_sources.find(p.ifname); it != ra_sources.end())
        policy.allowed_ra_sources = it->second;
      if (auto it = ra_prefixes.find(p.ifname); it != ra_prefixes.end())
        policy.allowed_ra_prefixes = it->second;
      ok = ok && check(ctx.guard->upsert_port(policy));
    }
  }
  if (!ok) return stop_parts(), 1;

  std::printf("v6guardd: ready datapath=%s inspector=%s ports=%zu bindings=%zu (%s)\n",
              std::string(datapath->name()).c_str(), ctx.guard != nullptr ? "on" : "off",
              ports.size(), bindings.size(), reason.c_str());
  for (const auto& [key, value] : ctx.status)
    std::printf("v6guardd: %s: %s\n", key.c_str(), value.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  stop_parts();
  std::printf("v6guardd: signal %d, %s\n", sig,
              vm["flush-on-exit"].as<bool>() ? "flushing" : "leaving drops in place");
  std::fflush(stdout);
  if (vm["flush-on-exit"].as<bool>() && !check(datapath->flush())) return 1;
  return 0;
}
