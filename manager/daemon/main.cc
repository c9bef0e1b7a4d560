// v6guardd: picks and programs the datapath, then runs the daemon's parts
// (daemon/part.h: inspector, control plane) until SIGTERM/SIGINT.
//
// Config (Boost.Program_options syntax, same keys as the flags):
//   port = vm1p:vm            # NAME:ROLE[:MAC], ROLE is vm | router | trusted
//   bind = vm1p,02:00:00:00:00:01,2600:beef:1000:100::10   # static binding
// A port with at least one static binding gets source guard.
#include <net/if.h>
#include <signal.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "daemon/part.h"
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
      "datapath", po::value<std::string>()->default_value("nft"), "datapath: nft")(
      "port", po::value<std::vector<std::string>>()->composing(), "NAME:ROLE[:MAC]")(
      "bind", po::value<std::vector<std::string>>()->composing(), "IFNAME,MAC,ADDR")(
      "ra-source", po::value<std::vector<std::string>>()->composing(),
      "IFNAME,LLADDR: RAs from router port IFNAME only from this source (repeatable)")(
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
  if (vm["datapath"].as<std::string>() != "nft") {
    std::cerr << "v6guardd: only the nft datapath is wired up in this build\n";
    return 2;
  }

  std::vector<PortSpec> ports;
  std::vector<Binding> bindings;
  std::string error;
  if (vm.count("port"))
    for (const auto& text : vm["port"].as<std::vector<std::string>>()) {
      PortSpec p;
      if (!parse_port(text, p, error)) return std::cerr << "v6guardd: " << error << "\n", 2;
      ports.push_back(p);
    }
  if (vm.count("bind"))
    for (const auto& text : vm["bind"].as<std::vector<std::string>>()) {
      Binding b;
      if (!parse_binding(text, b, error)) return std::cerr << "v6guardd: " << error << "\n", 2;
      bindings.push_back(b);
    }

  // Block the signals before anything else so sigwait() owns them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  v6g::nft::NftDatapath dp;
  auto check = [](const v6g::Status& s) {
    if (!s) std::cerr << "v6guardd: " << s.message() << "\n";
    return s.ok();
  };
  if (!check(dp.init())) return 1;
  for (const auto& p : ports)
    if (!check(dp.add_port(p))) return 1;
  if (!check(dp.add_bindings(bindings))) return 1;
  std::set<std::string> guarded;
  for (const auto& b : bindings) guarded.insert(b.ifname);
  for (const auto& name : guarded)
    if (!check(dp.set_source_guard(name, true))) return 1;

  if (vm.count("ra-source"))
    for (const auto& text : vm["ra-source"].as<std::vector<std::string>>()) {
      const auto fields = split(text, ',');
      const auto addr = fields.size() == 2 ? v6g::Ip6Addr::parse(fields[1]) : std::nullopt;
      if (!addr) return std::cerr << "v6guardd: ra-source needs IFNAME,ADDR: " << text << "\n", 2;
      if (!check(dp.allow_ra_source(fields[0], *addr))) return 1;
    }

  v6g::daemon::DaemonContext ctx;
  ctx.datapath = &dp;
  ctx.datapath_reason = "nft (selected with --datapath)";
  std::size_t started = 0;
  for (; started < parts.size(); ++started)
    if (!check(parts[started]->start(vm, ctx))) break;
  if (started < parts.size()) {
    while (started > 0) parts[--started]->stop();
    return 1;
  }

  std::printf("v6guardd: ready datapath=nft ports=%zu bindings=%zu\n", ports.size(),
              bindings.size());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) (*it)->stop();
  std::printf("v6guardd: signal %d, %s\n", sig,
              vm["flush-on-exit"].as<bool>() ? "flushing" : "leaving drops in place");
  if (vm["flush-on-exit"].as<bool>() && !check(dp.flush())) return 1;
  return 0;
}
