#include "cli/cli.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/client.h"
#include "cli/explain.h"
#include "cli/table.h"

namespace v6g::cli {
namespace {

namespace po = boost::program_options;
namespace pb = google::protobuf;

constexpr const char* kVmService = "/vmprovisioner.v1.VmService/";
constexpr const char* kGuardService = "/v6guard.v1.GuardService/";

constexpr const char* kUsage = R"(usage: v6guardctl [options] <command> [args]

commands:
  vm create -f FILE.json   create a VM (CreateVmRequest as JSON; "-" = stdin)
  vm delete ID             delete a VM and release its addresses, MACs, taps
  vm get ID                show one VM's config and allocations
  vm list [--tenant T]     list VMs
  ports                    bridge ports under guard
  bindings                 (port, vlan, mac, ip6) bindings, static and learned
  counters                 per-port verdict counters by reason
  events [--follow]        security events (--follow keeps polling)
  status                   daemon, datapath and fail-mode status
  explain --pcap FILE      replay a capture through the guard engine, offline
                           (--port-role vm|router, --policy JSON, --monitor; --help)
)";

struct Global {
  std::string socket;
  std::string tcp;  // host:port
  std::string token_file;
  bool json = false;
};

struct Io {
  std::ostream& out;
  std::ostream& err;
};

std::unique_ptr<api::Client> connect(const Global& g, Io io) {
  if (g.tcp.empty()) return api::Client::unix_socket(g.socket);
  const auto colon = g.tcp.rfind(':');
  if (colon == std::string::npos) {
    io.err << "v6guardctl: --tcp wants host:port\n";
    return nullptr;
  }
  std::string token;
  if (!g.token_file.empty()) {
    std::ifstream in(g.token_file);
    std::getline(in, token);
  }
  return api::Client::tcp(g.tcp.substr(0, colon), std::stoi(g.tcp.substr(colon + 1)), token);
}

void print_error(const api::Error& e, Io io) {
  io.err << "error: " << api::code_name(e.code) << ": " << e.message << '\n';
  for (const auto& d : e.details) {
    io.err << "  field " << (d.field.empty() ? "-" : d.field);
    if (!d.validation_error.empty()) io.err << ": " << d.validation_error;
    if (!d.message.empty()) io.err << " (" << d.message << ")";
    io.err << '\n';
    for (const auto& [key, value] : d.context) {
      io.err << "    " << key << ": ";
      if (const auto* s = std::get_if<std::string>(&value)) {
        io.err << *s;
      } else if (const auto* n = std::get_if<std::int64_t>(&value)) {
        io.err << *n;
      } else {
        const auto& list = std::get<std::vector<std::string>>(value);
        for (std::size_t i = 0; i < list.size(); ++i) io.err << (i ? ", " : "") << list[i];
      }
      io.err << '\n';
    }
  }
}

// One Connect call with a JSON body; prints the result. Returns the exit code.
int call(const Global& g, Io io, const std::string& procedure, const std::string& body,
         pb::Struct* response_out = nullptr, bool print = true) {
  auto client = connect(g, io);
  if (!client) return 2;
  const auto raw = client->post(procedure, body, "application/json");
  if (raw.status == 0) {
    io.err << "error: cannot reach v6guardd at " << (g.tcp.empty() ? g.socket : g.tcp) << ": "
           << raw.error << '\n';
    return 3;
  }
  if (raw.status != 200) {
    print_error(api::parse_error(raw.status, raw.body), io);
    return 1;
  }
  pb::Struct response;
  if (!pb::util::JsonStringToMessage(raw.body, &response).ok()) {
    io.err << "error: unreadable response from v6guardd\n";
    return 1;
  }
  if (print) {
    if (g.json) {
      io.out << raw.body << '\n';
    } else {
      print_human(response, io.out);
    }
  }
  if (response_out) *response_out = std::move(response);
  return 0;
}

std::string json_string(const std::string& key, const std::string& value) {
  pb::Struct s;
  (*s.mutable_fields())[key].set_string_value(value);
  std::string out;
  (void)pb::util::MessageToJsonString(s, &out);
  return out;
}

const pb::Value* field(const pb::Struct& s, const char* key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? nullptr : &it->second;
}
std::string text_of(const pb::Struct& s, const char* key) {
  const pb::Value* v = field(s, key);
  return v ? scalar_text(*v) : "-";
}

// CreateVm/GetVmInfo for humans: the VM line, then one row per NIC with what
// an operator checks first (where it is plugged, what it may use, guards on).
void print_vm(const pb::Struct& response, std::ostream& out) {
  const pb::Value* config = field(response, "config");
  const pb::Struct empty;
  const pb::Struct& cfg = config ? config->struct_value() : empty;
  out << "vm_id: " << text_of(response, "vm_id") << '\n';
  if (field(response, "state")) out << "state: " << text_of(response, "state") << '\n';
  if (field(cfg, "tenant_id")) out << "tenant_id: " << text_of(cfg, "tenant_id") << '\n';
  if (const pb::Value* profile = field(cfg, "security_profile")) {
    out << "security_profile: " << text_of(profile->struct_value(), "profile_name") << '\n';
  }
  pb::ListValue rows;
  if (const pb::Value* network = field(cfg, "network")) {
    for (const auto& nic_value : network->list_value().values()) {
      const pb::Struct& nic = nic_value.struct_value();
      const pb::Value* v6 = field(nic, "ipv6");
      const pb::Struct& ipv6 = v6 ? v6->struct_value() : empty;
      const pb::Value* sec = field(ipv6, "security");
      const pb::Struct& security = sec ? sec->struct_value() : empty;
      pb::Struct row;
      auto put = [&](const char* key, std::string value) {
        (*row.mutable_fields())[key].set_string_value(std::move(value));
      };
      put("nic", text_of(nic, "id"));
      put("tap", text_of(nic, "tap_device"));
      put("mac", text_of(nic, "mac_address"));
      put("bridge", text_of(nic, "bridge_name"));
      put("vlan", text_of(nic, "vlan_id"));
      const std::string address = text_of(ipv6, "address");
      put("address", address != "-" && !address.empty()         ? address
                     : text_of(ipv6, "enable_slaac") == "true"  ? "slaac"
                     : text_of(ipv6, "enable_dhcpv6") == "true" ? "dhcpv6"
                                                                : "-");
      put("gateway", text_of(ipv6, "gateway"));
      std::string guards;
      for (const auto& [key, name] :
           {std::pair{"enable_ra_guard", "ra"}, std::pair{"enable_source_guard", "source"}}) {
        if (text_of(security, key) == "true")
          guards += (guards.empty() ? "" : ",") + std::string(name);
      }
      put("guards", guards.empty() ? "NONE" : guards);
      *rows.add_values()->mutable_struct_value() = std::move(row);
    }
  }
  if (rows.values_size() > 0) print_table(rows, out);
}

int vm_command(const Global& g, Io io, const std::vector<std::string>& args) {
  if (args.empty()) {
    io.err << "v6guardctl vm: create|delete|get|list\n";
    return 2;
  }
  const std::string& verb = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (verb == "create") {
    po::options_description desc("vm create");
    std::string file;
    desc.add_options()("file,f", po::value(&file)->required(), "CreateVmRequest JSON");
    po::variables_map vm;
    try {
      po::store(po::command_line_parser(rest).options(desc).run(), vm);
      po::notify(vm);
    } catch (const po::error& e) {
      io.err << "v6guardctl vm create: " << e.what() << '\n';
      return 2;
    }
    std::stringstream body;
    if (file == "-") {
      body << std::cin.rdbuf();
    } else {
      std::ifstream in(file);
      if (!in) {
        io.err << "v6guardctl: cannot read " << file << '\n';
        return 2;
      }
      body << in.rdbuf();
    }
    pb::Struct response;
    const int rc = call(g, io, std::string(kVmService) + "CreateVm", body.str(), &response, g.json);
    if (rc == 0 && !g.json) print_vm(response, io.out);
    return rc;
  }
  if (verb == "delete" || verb == "get") {
    if (rest.size() != 1) {
      io.err << "v6guardctl vm " << verb << " ID\n";
      return 2;
    }
    if (verb == "delete") {
      return call(g, io, std::string(kVmService) + "DeleteVm", json_string("vm_id", rest[0]));
    }
    pb::Struct response;
    const int rc = call(g, io, std::string(kVmService) + "GetVmInfo", json_string("vm_id", rest[0]),
                        &response, g.json);
    if (rc == 0 && !g.json) print_vm(response, io.out);
    return rc;
  }
  if (verb == "list") {
    po::options_description desc("vm list");
    std::string tenant;
    desc.add_options()("tenant", po::value(&tenant), "only this tenant's VMs");
    po::variables_map vm;
    try {
      po::store(po::command_line_parser(rest).options(desc).run(), vm);
      po::notify(vm);
    } catch (const po::error& e) {
      io.err << "v6guardctl vm list: " << e.what() << '\n';
      return 2;
    }
    return call(g, io, std::string(kVmService) + "ListVms",
                tenant.empty() ? "{}" : json_string("tenant_id", tenant));
  }
  io.err << "v6guardctl vm: unknown verb " << verb << '\n';
  return 2;
}

int events_command(const Global& g, Io io, const std::vector<std::string>& args) {
  po::options_description desc("events");
  bool follow = false;
  int interval_ms = 1000;
  int max_polls = 0;  // 0 = forever (tests bound it)
  desc.add_options()("follow", po::bool_switch(&follow), "keep polling for new events")(
      "interval-ms", po::value(&interval_ms), "poll interval with --follow")(
      "max-polls", po::value(&max_polls), "stop --follow after N polls");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    io.err << "v6guardctl events: " << e.what() << '\n';
    return 2;
  }
  const std::string procedure = std::string(kGuardService) + "ListEvents";
  if (!follow) return call(g, io, procedure, "{}");
  // Follow: ask for events after the last cursor the daemon returned.
  std::string cursor;
  for (int polls = 0; max_polls == 0 || polls < max_polls; ++polls) {
    pb::Struct response;
    const std::string body = cursor.empty() ? "{}" : json_string("after", cursor);
    if (int rc = call(g, io, procedure, body, &response, false); rc != 0) return rc;
    const auto& f = response.fields();
    if (auto it = f.find("events"); it != f.end()) {
      for (const auto& event : it->second.list_value().values()) {
        if (g.json) {
          std::string line;
          (void)pb::util::MessageToJsonString(event.struct_value(), &line);
          io.out << line << '\n';
        } else {
          const auto& e = event.struct_value().fields();
          auto get = [&](const char* k) {
            auto i = e.find(k);
            return i == e.end() ? std::string("-") : scalar_text(i->second);
          };
          io.out << get("timestamp") << ' ' << get("severity") << ' ' << get("event_type") << ' '
                 << get("violation_type") << " vm=" << get("vm_id") << " if=" << get("interface_id")
                 << '\n';
        }
      }
    }
    if (auto it = f.find("cursor"); it != f.end()) cursor = scalar_text(it->second);
    io.out.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return 0;
}

}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  Io io{out, err};
  Global g;
  po::options_description global("options");
  global.add_options()("help,h", "this help")(
      "socket,s", po::value(&g.socket)->default_value("/run/v6guard/api.sock"),
      "v6guardd API unix socket")("tcp", po::value(&g.tcp), "use TCP host:port instead")(
      "token-file", po::value(&g.token_file), "bearer token for --tcp")(
      "json", po::bool_switch(&g.json), "print the raw JSON response (for scripts)");
  po::options_description hidden;
  std::string command;
  hidden.add_options()("command", po::value(&command))("args",
                                                       po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(global).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1).add("args", -1);

  po::variables_map vm;
  std::vector<std::string> args;
  try {
    auto parsed = po::command_line_parser(argc, argv)
                      .options(all)
                      .positional(positional)
                      .allow_unregistered()
                      .run();
    po::store(parsed, vm);
    po::notify(vm);
    // Everything after the command (incl. its own --flags) goes to the command.
    args = po::collect_unrecognized(parsed.options, po::include_positional);
    if (!args.empty() && args.front() == command) args.erase(args.begin());
  } catch (const po::error& e) {
    err << "v6guardctl: " << e.what() << '\n' << kUsage;
    return 2;
  }
  if (vm.count("help") || command.empty()) {
    (command.empty() && !vm.count("help") ? err : out) << kUsage << '\n' << global;
    return command.empty() && !vm.count("help") ? 2 : 0;
  }

  if (command == "vm") return vm_command(g, io, args);
  if (command == "events") return events_command(g, io, args);
  if (command == "explain") return explain_command(args, g.json, out, err);  // offline, no daemon
  static const std::pair<const char*, const char*> kSimple[] = {{"ports", "ListPorts"},
                                                                {"bindings", "ListBindings"},
                                                                {"counters", "GetCounters"},
                                                                {"status", "GetStatus"}};
  for (const auto& [name, method] : kSimple) {
    if (command != name) continue;
    if (!args.empty()) {
      err << "v6guardctl " << name << ": unexpected argument " << args[0] << '\n';
      return 2;
    }
    return call(g, io, std::string(kGuardService) + method, "{}");
  }
  err << "v6guardctl: unknown command " << command << '\n' << kUsage;
  return 2;
}

}  // namespace v6g::cli
