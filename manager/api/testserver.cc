// v6g-api-testserver: the API stack (Connect server + VmManager + SQLite
// store) behind a host hook that only records, for integration tests and
// demos where no daemon runs. Messages are google.protobuf.Struct until the
// vmprovisioner protos are wired in (v6guardd registers the real VmService).
//
//   v6g-api-testserver --socket S --db F [--fail-tap TAP] [--allow-uid N]
//
// Request shape: {"vm_id","tenant_id","bridge","vlan",
//                 "interfaces":[{"tap","mac","address"}]}
#include <google/protobuf/struct.pb.h>
#include <pthread.h>

#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "api/guard_status.h"
#include "api/server.h"
#include "api/vm_manager.h"
#include "common/net.h"
#include "common/reason.h"

namespace {

namespace pb = google::protobuf;
namespace po = boost::program_options;
using namespace v6g;

class LoggingHost final : public api::HostProgrammer {
 public:
  explicit LoggingHost(std::string fail_tap) : fail_tap_(std::move(fail_tap)) {}
  Status program_vm(const api::VmPlan& plan) override {
    for (const auto& p : plan.ports) {
      if (p.ifname == fail_tap_) return Status::error("cannot create tap " + p.ifname);
      std::printf("program %s %s vlan %u\n", p.ifname.c_str(), p.bridge.c_str(), p.vlan);
    }
    std::fflush(stdout);
    return {};
  }
  Status unprogram_vm(const api::VmPlan& plan) override {
    for (const auto& p : plan.ports) std::printf("unprogram %s\n", p.ifname.c_str());
    std::fflush(stdout);
    return {};
  }

 private:
  std::string fail_tap_;
};

std::string text(const pb::Struct& s, const char* key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? std::string() : it->second.string_value();
}

api::Error field_error(api::Code code, std::string field, std::string validation,
                       std::string message) {
  api::Error e = api::make_error(code, field + ": " + message);
  e.details.push_back({std::move(field), std::move(validation), std::move(message), {}});
  return e;
}

// Minimal validation so the harness exercises field-path errors for real.
std::optional<api::Error> plan_from(const pb::Struct& req, api::VmPlan& plan) {
  const std::string id = text(req, "vm_id"), tenant = text(req, "tenant_id");
  const std::string bridge = text(req, "bridge");
  if (id.empty()) return field_error(api::Code::kInvalidArgument, "vm_id", "required", "missing");
  if (tenant.empty()) {
    return field_error(api::Code::kInvalidArgument, "tenant_id", "required", "missing");
  }
  const auto vlan_it = req.fields().find("vlan");
  const double vlan = vlan_it == req.fields().end() ? 0 : vlan_it->second.number_value();
  if (vlan < 1 || vlan > 4094) {
    return field_error(api::Code::kInvalidArgument, "vlan", "vlan_out_of_range",
                       "VLAN must be 1-4094");
  }
  plan.vm = {id, tenant, req.SerializeAsString(), "", 0, 0};
  plan.vlans.push_back({bridge, static_cast<std::uint16_t>(vlan), tenant, id});
  const auto ifs = req.fields().find("interfaces");
  if (ifs == req.fields().end()) return std::nullopt;
  for (int i = 0; i < ifs->second.list_value().values_size(); ++i) {
    const auto& nic = ifs->second.list_value().values(i).struct_value();
    const std::string path = "interfaces[" + std::to_string(i) + "]";
    const auto mac = MacAddr::parse(text(nic, "mac"));
    if (!mac) {
      return field_error(api::Code::kInvalidArgument, path + ".mac", "invalid_mac",
                         "not a MAC address");
    }
    const auto addr = Ip6Addr::parse(text(nic, "address"));
    if (!addr) {
      return field_error(api::Code::kInvalidArgument, path + ".address", "invalid_address_syntax",
                         "not an IPv6 address: " + text(nic, "address"));
    }
    const std::string tap = text(nic, "tap");
    plan.allocations.push_back({store::Kind::kTap, tap, id});
    plan.allocations.push_back({store::Kind::kMac, mac->to_string(), id});
    plan.allocations.push_back({store::Kind::kIp6, addr->to_string(), id});
    plan.ports.push_back({tap, bridge, static_cast<std::uint16_t>(vlan), mac->to_string(), id,
                          V6G_ROLE_VM, V6G_FAIL_CLOSED, 0});
    plan.bindings.push_back({tap, static_cast<std::uint16_t>(vlan), mac->to_string(),
                             addr->to_string(), "reachable", "static", id, 0});
  }
  return std::nullopt;
}

void put(pb::Struct& s, const char* key, const std::string& value) {
  (*s.mutable_fields())[key].set_string_value(value);
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, db, fail_tap;
  std::vector<unsigned> allow_uids;
  po::options_description desc("v6g-api-testserver");
  desc.add_options()("socket", po::value(&socket)->required(), "unix socket path")(
      "db", po::value(&db)->required(), "SQLite state file")("fail-tap", po::value(&fail_tap),
                                                             "make programming this tap fail")(
      "allow-uid", po::value(&allow_uids)->multitoken(), "extra uids allowed on the socket");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << e.what() << '\n' << desc;
    return 2;
  }

  std::unique_ptr<store::Store> state;
  if (auto o = store::Store::open(db, state); !o) {
    std::cerr << "store: " << o.message() << '\n';
    return 1;
  }
  LoggingHost host(fail_tap);
  api::VmManager manager(*state, host);
  std::vector<std::string> failures;
  std::printf("recovered: %d failures\n", manager.reprogram_all(failures));

  api::ServerOptions options;
  options.socket_path = socket;
  options.socket_mode = 0666;  // the peer-credential check is what's under test
  options.allowed_uids.assign(allow_uids.begin(), allow_uids.end());
  api::Server server(options);
  const std::string vms = "/vmprovisioner.v1.VmService/";
  server.handle<pb::Struct, pb::Struct>(
      vms + "CreateVm", [&](const api::CallContext& ctx, const pb::Struct& req, pb::Struct& resp) {
        api::VmPlan plan;
        auto error = manager.create(
            ctx, [&](store::Store&, api::VmPlan& p) { return plan_from(req, p); }, plan);
        if (!error) put(resp, "vm_id", plan.vm.id);
        return error;
      });
  server.handle<pb::Struct, pb::Struct>(
      vms + "DeleteVm", [&](const api::CallContext& ctx, const pb::Struct& req, pb::Struct&) {
        api::VmPlan removed;
        return manager.remove(ctx, text(req, "vm_id"), removed);
      });
  server.handle<pb::Struct, pb::Struct>(
      vms + "GetVmInfo", [&](const api::CallContext&, const pb::Struct& req, pb::Struct& resp) {
        api::VmPlan plan;
        if (auto error = manager.get(text(req, "vm_id"), plan)) return error;
        put(resp, "vm_id", plan.vm.id);
        put(resp, "tenant_id", plan.vm.tenant_id);
        pb::Struct stored;  // the config is stored once, as proto; rendered on read
        if (stored.ParseFromString(plan.vm.config)) put(resp, "config_json", api::to_json(stored));
        return std::optional<api::Error>();
      });
  server.handle<pb::Struct, pb::Struct>(
      vms + "ListVms", [&](const api::CallContext&, const pb::Struct& req, pb::Struct& resp) {
        std::vector<store::VmRecord> records;
        if (auto error = manager.list(text(req, "tenant_id"), records)) return error;
        auto* list = (*resp.mutable_fields())["vms"].mutable_list_value();
        for (const auto& r : records) {
          auto& row = *list->add_values()->mutable_struct_value();
          put(row, "vm_id", r.id);
          put(row, "tenant_id", r.tenant_id);
          put(row, "state", r.state);
        }
        return std::optional<api::Error>();
      });
  api::GuardStatusSources status_sources;
  status_sources.vms = &manager;
  status_sources.status = [] {
    return std::vector<std::pair<std::string, std::string>>{{"mode", "testserver"}};
  };
  api::register_guard_status(server, status_sources);

  // Block the stop signals before the server threads exist (they inherit the
  // mask), then take them synchronously here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  if (auto s = server.start(); !s) {
    std::cerr << "start: " << s.message() << '\n';
    return 1;
  }
  std::printf("listening on %s\n", socket.c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.stop();
  return 0;
}
