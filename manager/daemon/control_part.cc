// The control plane of v6guardd: the SQLite store, the VM programming chain
// and the Connect API server (VmService + GuardService).
//
// Start-up: open the store -> build the HostProgrammer chain
//   [host step (manager/host VmHostProgrammer: bridges, taps, VLANs, MLD
//    snooping, isolation, port firewalls/QoS; --program-host) ->
//    DatapathProgrammer (ports + static bindings into ctx.datapath) ->
//    nft source guard (ports whose NIC asks for it) ->
//    GuardPolicyProgrammer (port policies into ctx.guard, the inspector)]
// -> VmManager + VmService -> reprogram every stored VM (a restart, even after
// kill -9, puts back exactly what the store holds; every step is idempotent)
// -> serve the API. Stop: the server first (no call in flight), then the rest.
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>

#include "api/datapath_programmer.h"
#include "api/guard_status.h"
#include "api/port_policy.h"
#include "api/server.h"
#include "api/vm_manager.h"
#include "api/vm_service.h"
#include "config/host_config.h"
#include "daemon/part.h"
#include "host/reconcile.h"
#include "host/rtnl.h"
#include "host/vm_programmer.h"
#include "inspector/inspector.h"
#include "nft/nft_datapath.h"
#include "store/store.h"

namespace v6g::daemon {
namespace {

namespace po = boost::program_options;
namespace vmp = vmprovisioner::v1;

// One libnftables context (or genetlink socket) must not be used by two
// threads at once. With the inspector running, ctx.datapath is its
// SharedDatapath, which serialises every call; without it, API threads
// (programming under VmManager's lock, status calls outside it) would share
// the bare datapath, so the control plane serialises them here.
class LockedDatapath final : public datapath::Datapath {
 public:
  explicit LockedDatapath(datapath::Datapath& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  Status add_port(const datapath::PortSpec& p) override {
    return locked([&] { return inner_.add_port(p); });
  }
  Status remove_port(std::uint32_t i) override {
    return locked([&] { return inner_.remove_port(i); });
  }
  Status add_bindings(std::span<const datapath::Binding> b) override {
    return locked([&] { return inner_.add_bindings(b); });
  }
  Status remove_bindings(std::span<const datapath::Binding> b) override {
    return locked([&] { return inner_.remove_bindings(b); });
  }
  Status list_bindings(std::vector<datapath::Binding>& out) override {
    return locked([&] { return inner_.list_bindings(out); });
  }
  Status counters(std::vector<datapath::PortCounters>& out) override {
    return locked([&] { return inner_.counters(out); });
  }
  Status list_ports(std::vector<datapath::PortSpec>& out) override {
    return locked([&] { return inner_.list_ports(out); });
  }
  Status remove_listed_port(const datapath::PortSpec& p) override {
    return locked([&] { return inner_.remove_listed_port(p); });
  }
  Status flush() override {
    return locked([&] { return inner_.flush(); });
  }
  template <typename Fn>
  Status locked(Fn&& fn) {
    std::lock_guard lock(mu_);
    return fn();
  }

 private:
  datapath::Datapath& inner_;
  std::mutex mu_;
};

// nft without the inspector: source guard is a per-port set membership there
// (with the inspector, the nft datapath puts every punted VM port into it
// itself). On for every NIC whose config enables it.
class NftSourceGuardStep final : public api::HostProgrammer {
 public:
  NftSourceGuardStep(nft::NftDatapath& nft, LockedDatapath& lock) : nft_(nft), lock_(lock) {}

  Status program_vm(const api::VmPlan& plan) override {
    vmp::VmConfig config;
    if (!config.ParseFromString(plan.vm.config)) return Status::error("unreadable VM config");
    for (const auto& nic : config.network()) {
      if (!nic.ipv6().security().enable_source_guard()) continue;
      if (auto s = lock_.locked([&] { return nft_.set_source_guard(nic.tap_device(), true); });
          !s) {
        return s;
      }
    }
    return {};
  }
  Status unprogram_vm(const api::VmPlan& plan) override {
    // Best effort: the element may be gone with the port already.
    for (const auto& port : plan.ports) {
      (void)lock_.locked([&] { return nft_.set_source_guard(port.ifname, false); });
    }
    return {};
  }

 private:
  nft::NftDatapath& nft_;
  LockedDatapath& lock_;
};

Status read_tokens(const std::string& path,
                   std::vector<std::pair<std::string, std::string>>& tokens) {
  std::ifstream in(path);
  if (!in) return Status::error("cannot read token file " + path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // "ID:TOKEN" names the caller in the audit log; a bare token is "tokenN".
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      tokens.emplace_back(line, "token" + std::to_string(tokens.size() + 1));
    } else {
      tokens.emplace_back(line.substr(colon + 1), line.substr(0, colon));
    }
  }
  if (tokens.empty()) return Status::error("token file " + path + " holds no token");
  return {};
}

class ControlPlane final : public Part {
 public:
  void add_options(po::options_description& opts) override {
    opts.add_options()("state-dir", po::value<std::string>()->default_value("/var/lib/v6guard"),
                       "directory of the state database (state.db, SQLite WAL)")(
        "api-socket", po::value<std::string>()->default_value("/run/v6guard/api.sock"),
        "API unix socket (Connect over HTTP/1.1)")(
        "api-group", po::value<std::string>(),
        "group allowed on the API socket besides root (socket mode 0660)")(
        "host-config", po::value<std::string>(),
        "host network config JSON (pools, allocated blocks, VLAN grants, trusted DNS)")(
        "api-tcp", po::value<int>()->default_value(-1),
        "also listen on 127.0.0.1:PORT (bearer tokens; -1 = off)")(
        "api-token-file", po::value<std::string>(),
        "bearer tokens for --api-tcp, one per line: ID:TOKEN or TOKEN")(
        "program-host", po::value<bool>()->default_value(true),
        "create bridges, taps, VLANs and port firewalls for VMs (false: they must exist)")(
        "host-vlan-mode", po::value<std::string>()->default_value("auto"),
        "auto | filtering (one VLAN-aware bridge) | bridge-per-vlan")(
        "host-uplink", po::value<std::vector<std::string>>()->composing(),
        "BRIDGE=IFNAME: uplink carrying the tenant bridge's VLANs (repeatable)")(
        "tap-owner", po::value<unsigned>(), "uid owning the taps v6guardd creates (the VMM's)")(
        "tap-group", po::value<unsigned>(), "gid of the taps v6guardd creates")(
        "no-api", po::bool_switch(), "run without the control plane (datapath/inspector only)");
  }

  Status start(const po::variables_map& vm, DaemonContext& ctx) override {
    if (vm["no-api"].as<bool>()) {
      ctx.status.emplace_back("api", "off (--no-api)");
      return {};
    }
    ctx_ = &ctx;
    config::HostConfig host;
    if (vm.count("host-config")) {
      std::string error;
      auto parsed = config::load_host_config(vm["host-config"].as<std::string>(), &error);
      if (!parsed) return Status::error("host config: " + error);
      host = std::move(*parsed);
      ctx.status.emplace_back("host_config", vm["host-config"].as<std::string>());
    } else {
      ctx.status.emplace_back("host_config",
                              "none (no allocated blocks: static addresses refused)");
    }

    const std::filesystem::path state_dir = vm["state-dir"].as<std::string>();
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec) return Status::error("state dir " + state_dir.string() + ": " + ec.message());
    // One daemon per state dir: a second one would reprogram the same VMs
    // and fight over the socket. The lock dies with the process (kill -9 too).
    lock_fd_ = ::open((state_dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    // A state dir we can't write (read-only mount, full disk, permissions)
    // must stop the start with the reason, not a daemon that fails every
    // write later. Root passes permission bits, so test what we'll write.
    const auto unwritable = [&](const std::filesystem::path& file) {
      return Status::error("state dir " + state_dir.string() + " is not writable (" +
                           file.filename().string() + ": " + std::strerror(errno) +
                           "); the state database needs writes: remount it read-write or "
                           "free space");
    };
    if (lock_fd_ < 0) return unwritable(state_dir / "lock");
    if (::access((state_dir / "state.db").c_str(), F_OK) == 0 &&
        ::access((state_dir / "state.db").c_str(), W_OK) != 0) {
      return unwritable(state_dir / "state.db");
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      return Status::error("state dir " + state_dir.string() +
                           " is in use by another v6guardd (use --state-dir/--api-socket "
                           "or --no-api for a second one)");
    }
    const std::string db = (state_dir / "state.db").string();
    if (auto o = store::Store::open(db, store_); !o) return Status::error("store: " + o.message());
    ctx.status.emplace_back("state_db", db);

    if (vm["program-host"].as<bool>()) {
      host::VmProgrammerOptions opts;
      const std::string mode = vm["host-vlan-mode"].as<std::string>();
      if (mode == "filtering") {
        opts.vlan_mode = host::VlanMode::kFiltering;
      } else if (mode == "bridge-per-vlan") {
        opts.vlan_mode = host::VlanMode::kBridgePerVlan;
      } else if (mode != "auto") {
        return Status::error("--host-vlan-mode: auto, filtering or bridge-per-vlan");
      }
      if (vm.count("host-uplink")) {
        for (const auto& text : vm["host-uplink"].as<std::vector<std::string>>()) {
          const auto eq = text.find('=');
          if (eq == std::string::npos) return Status::error("--host-uplink wants BRIDGE=IFNAME");
          opts.uplinks[text.substr(0, eq)] = text.substr(eq + 1);
        }
      }
      if (vm.count("tap-owner")) opts.tap.owner = vm["tap-owner"].as<unsigned>();
      if (vm.count("tap-group")) opts.tap.group = vm["tap-group"].as<unsigned>();
      // Probes the kernel (forks a helper); the inspector's threads don't
      // touch what the child uses.
      host_step_ = std::make_unique<host::VmHostProgrammer>(opts);
      steps_.push_back(host_step_.get());
      ctx.status.emplace_back("program_host", "on (vlan mode " + mode + ")");
      for (auto& line : host_step_->status_lines()) ctx.status.push_back(std::move(line));
    } else {
      ctx.status.emplace_back("program_host", "off (taps and bridges must exist)");
    }
    datapath::Datapath* dp = ctx.datapath;
    if (dp != nullptr && dynamic_cast<inspector::SharedDatapath*>(dp) == nullptr) {
      locked_ = std::make_unique<LockedDatapath>(*dp);
      dp = locked_.get();
    }
    if (dp != nullptr) {
      datapath_step_ = std::make_unique<api::DatapathProgrammer>(*dp);
      steps_.push_back(datapath_step_.get());
      if (auto* nft = dynamic_cast<nft::NftDatapath*>(ctx.datapath); nft && locked_) {
        source_guard_step_ = std::make_unique<NftSourceGuardStep>(*nft, *locked_);
        steps_.push_back(source_guard_step_.get());
      }
    }

    if (ctx.guard) {
      GuardHub* hub = ctx.guard;
      guard_step_ = std::make_unique<api::GuardPolicyProgrammer>(
          [hub](const guard::PortPolicy& p) { return hub->upsert_port(p); },
          [hub](guard::PortId port) { hub->remove_port(port); }, api::IfindexResolver{},
          host.allocated_blocks);
      steps_.push_back(guard_step_.get());
    }
    chain_ = std::make_unique<api::ChainedProgrammer>(steps_);
    manager_ = std::make_unique<api::VmManager>(*store_, *chain_);
    service_ = std::make_unique<api::VmService>(*manager_, std::move(host));

    std::vector<std::string> failures;
    const int failed = manager_->reprogram_all(failures);
    for (const auto& f : failures) std::fprintf(stderr, "v6guardd: reprogram %s\n", f.c_str());
    std::vector<store::VmRecord> vms;
    (void)manager_->list({}, vms);
    ctx.status.emplace_back("recovered_vms", std::to_string(vms.size()) + " (" +
                                                 std::to_string(failed) + " failed to program)");
    if (auto e = service_->load()) return Status::error("loading allocations: " + e->message);
    ctx.status.emplace_back("reconciled", reconcile(dp));

    api::ServerOptions options;
    options.socket_path = vm["api-socket"].as<std::string>();
    std::filesystem::create_directories(std::filesystem::path(options.socket_path).parent_path(),
                                        ec);
    if (vm.count("api-group")) {
      const group* g = getgrnam(vm["api-group"].as<std::string>().c_str());
      if (!g) return Status::error("no group " + vm["api-group"].as<std::string>());
      options.allowed_gids.push_back(g->gr_gid);
    }
    options.tcp_port = vm["api-tcp"].as<int>();
    if (options.tcp_port >= 0) {
      if (!vm.count("api-token-file")) return Status::error("--api-tcp needs --api-token-file");
      if (auto s = read_tokens(vm["api-token-file"].as<std::string>(), options.tokens); !s) {
        return s;
      }
    }
    server_ = std::make_unique<api::Server>(options);
    service_->register_on(*server_);

    api::GuardStatusSources sources;
    sources.vms = manager_.get();
    sources.datapath = dp;
    if (ctx.guard) {
      GuardHub* hub = ctx.guard;
      sources.events = [hub](std::uint64_t after, std::size_t limit,
                             std::vector<v6guard::v1::SecurityEvent>& out) {
        return hub->events(after, limit, out);
      };
      sources.guard_bindings = [hub] { return hub->bindings(); };
      sources.guard_counters = [hub] { return hub->counters(); };
    }
    sources.status = [c = ctx_] {
      auto lines = c->status;
      lines.emplace_back("datapath_reason", c->datapath_reason);
      for (const auto& live : c->live_status) lines.push_back(live());
      return lines;
    };
    api::register_guard_status(*server_, sources);

    // API threads copy ctx.status from the first GetStatus on: it must not
    // change once the server runs. The TCP port is known after the bind.
    ctx.status.emplace_back("api_socket", options.socket_path);
    if (options.tcp_port >= 0) {
      ctx.live_status.emplace_back([s = server_.get()] {
        return std::pair<std::string, std::string>("api_tcp",
                                                   "127.0.0.1:" + std::to_string(s->tcp_port()));
      });
    }
    if (auto s = server_->start(); !s) return Status::error("API server: " + s.message());
    std::printf("v6guardd: api on %s, %zu VMs recovered (%d failed)\n", options.socket_path.c_str(),
                vms.size(), failed);
    std::fflush(stdout);
    return {};
  }

  // A kill -9 between programming a VM and committing it leaves its tap,
  // port firewall/QoS chains, VLAN subinterface, datapath port and bindings
  // behind (the store rolled the create back and will hand its addresses to
  // the next VM). With every stored VM reprogrammed, remove what no stored VM
  // owns; only v6guard-marked interfaces, the datapath state on them (or on
  // vanished ones) and v6guard's firewall table qualify.
  // Returns the status line.
  std::string reconcile(datapath::Datapath* dp) {
    host::StoredPorts stored;
    std::vector<store::PortRecord> ports;
    if (auto o = store_->list_ports(ports); !o) return "skipped (store: " + o.message() + ")";
    for (const auto& p : ports) stored.add(p.ifname, p.bridge, p.vlan);
    host::LiveState live;
    host::Rtnl nl;
    std::string gaps;
    if (nl.open_status().ok()) {
      live.links = nl.links();
    } else {
      gaps += "; interfaces not checked (" + nl.open_status().message() + ")";
    }
    if (dp != nullptr) {
      if (auto s = dp->list_ports(live.ports); !s) {
        live.ports.clear();
        gaps += "; ports not checked (" + s.message() + ")";
      }
      if (auto s = dp->list_bindings(live.bindings); !s) {
        live.bindings.clear();
        gaps += "; bindings not checked (" + s.message() + ")";
      }
    }
    // Port firewalls/QoS only with --program-host (otherwise nobody here
    // writes that table).
    if (host_step_) live.firewall_ports = host_step_->firewall_ports();
    const host::Orphans orphans = host::find_orphans(stored, live);
    int errors = 0;
    const auto log = [&](const std::string& what, const Status& s) {
      if (!s) ++errors;
      std::fprintf(stderr, "v6guardd: reconcile: %s %s%s\n", s ? "removed" : "FAILED to remove",
                   what.c_str(), s ? "" : (": " + s.message()).c_str());
    };
    for (const auto& b : orphans.bindings) {
      log("binding " + b.ifname + " " + b.mac.to_string() + " " + b.addr.to_string() +
              " (no stored VM port)",
          dp->remove_bindings(std::span(&b, 1)));
    }
    for (const auto& p : orphans.ports) {
      log("datapath port " + p.ifname + " (no stored VM port)", dp->remove_listed_port(p));
    }
    for (const auto& port : orphans.firewall_ports) {
      log("firewall/QoS chains of " + port + " (no stored VM port)",
          host_step_->remove_firewalls({port}));
    }
    for (const auto& l : orphans.links) {
      const std::string kind = l.kind == "bridge" ? "bridge "
                               : l.kind == "vlan" ? "VLAN subinterface "
                                                  : "tap ";
      log(kind + l.name + " (v6guard-created, unused)", nl.delete_link(l.ifindex));
    }
    std::fflush(stderr);
    return std::to_string(orphans.bindings.size()) + " bindings, " +
           std::to_string(orphans.ports.size()) + " datapath ports, " +
           std::to_string(orphans.firewall_ports.size()) + " port firewalls, " +
           std::to_string(orphans.links.size()) + " interfaces removed (" + std::to_string(errors) +
           " failed)" + gaps;
  }

  void stop() override {
    if (server_) server_->stop();
    server_.reset();
    service_.reset();
    manager_.reset();
    chain_.reset();
    guard_step_.reset();
    source_guard_step_.reset();
    datapath_step_.reset();
    host_step_.reset();
    steps_.clear();
    locked_.reset();
    store_.reset();
    if (lock_fd_ >= 0) ::close(lock_fd_);
    lock_fd_ = -1;
  }
  ~ControlPlane() override { stop(); }

 private:
  DaemonContext* ctx_ = nullptr;
  int lock_fd_ = -1;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<LockedDatapath> locked_;
  std::unique_ptr<host::VmHostProgrammer> host_step_;
  std::unique_ptr<api::DatapathProgrammer> datapath_step_;
  std::unique_ptr<NftSourceGuardStep> source_guard_step_;
  std::unique_ptr<api::GuardPolicyProgrammer> guard_step_;
  std::vector<api::HostProgrammer*> steps_;
  std::unique_ptr<api::ChainedProgrammer> chain_;
  std::unique_ptr<api::VmManager> manager_;
  std::unique_ptr<api::VmService> service_;
  std::unique_ptr<api::Server> server_;
};

}  // namespace

std::unique_ptr<Part> make_control_part() { return std::make_unique<ControlPlane>(); }

}  // namespace v6g::daemon
