#include "cli/cli.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/client.h"
#include "api/guard_status.h"
#include "cli/explain.h"
#include "cli/table.h"

namespace v6g::cli {
namespace {

namespace po = boost::program_options;
namespace pb = google::protobuf;
namespace v1 = v6guard::v1;

constexpr const char* kVmService = "/vmprovisioner.v1.VmService/";
constexpr const char* kGuardService = "/v6guard.v1.GuardService/";

constexpr const char* kUsage = R"(usage: v6guardctl [options] <command> [args]

commands:
  vm create -f FILE.json   create a VM (CreateVmRequest as JSON; "-" = stdin)
  vm delete ID             delete a VM and release its addresses, MACs, taps
  vm get ID                show one VM's config and allocations
  vm list [--tenant T]     list VMs
  ports [--vm ID]          bridge ports under guard
  bindings [--port P] [--vlan N] [--vm ID] [--page-size N [--page-token T]]
                           (port, vlan, mac, ipv6) bindings, static and learnt
  counters [--port P] [--drops] [--source datapath|inspector]
                           verdict counters by reason (per port where counted so)
  events [--since SEQ] [--limit N] [--follow]
                           security events (--follow keeps polling)
  status                   datapath and why, capabilities, versions
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

// POSTs one Connect request; on 200 leaves the body in `out` and returns 0,
// otherwise reports and returns the exit code (2 no client, 3 unreachable,
// 1 a Connect error).
int post_ok(const Global& g, Io io, const std::string& procedure, const std::string& body,
            const char* content_type, std::string& out) {
  auto client = connect(g, io);
  if (!client) return 2;
  auto raw = client->post(procedure, body, content_type);
  if (raw.status == 0) {
    io.err << "error: cannot reach v6guardd at " << (g.tcp.empty() ? g.socket : g.tcp) << ": "
           << raw.error << '\n';
    return 3;
  }
  if (raw.status != 200) {
    print_error(api::parse_error(raw.status, raw.body), io);
    return 1;
  }
  out = std::move(raw.body);
  return 0;
}

// One Connect call with a JSON body; prints the result. Returns the exit code.
int call(const Global& g, Io io, const std::string& procedure, const std::string& body,
         pb::Struct* response_out = nullptr, bool print = true) {
  std::string raw_body;
  if (const int rc = post_ok(g, io, procedure, body, "application/json", raw_body); rc != 0)
    return rc;
  pb::Struct response;
  if (!pb::util::JsonStringToMessage(raw_body, &response).ok()) {
    io.err << "error: unreadable response from v6guardd\n";
    return 1;
  }
  if (print) {
    if (g.json) {
      io.out << raw_body << '\n';
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

// ---- GuardService: typed messages over application/proto ----

// Parses a command's own options; prints the usage error. False = exit 2.
bool parse_options(const char* name, po::options_description& desc,
                   const std::vector<std::string>& args, Io io) {
  try {
    po::variables_map vm;
    // No positional arguments: a stray word is a usage error, not ignored.
    po::store(po::command_line_parser(args)
                  .options(desc)
                  .positional(po::positional_options_description())
                  .run(),
              vm);
    po::notify(vm);
    return true;
  } catch (const po::error& e) {
    io.err << "v6guardctl " << name << ": " << e.what() << '\n';
    return false;
  }
}

// One GuardService call in the binary codec. Returns the exit code.
int guard_call(const Global& g, Io io, const char* method, const pb::Message& request,
               pb::Message& response) {
  std::string raw_body;
  if (const int rc = post_ok(g, io, std::string(kGuardService) + method,
                             request.SerializeAsString(), "application/proto", raw_body);
      rc != 0)
    return rc;
  // Not api::decode: a newer daemon's extra fields are fine in a response.
  if (!response.ParseFromString(raw_body)) {
    io.err << "error: unreadable " << response.GetDescriptor()->full_name() << " from v6guardd\n";
    return 1;
  }
  return 0;
}

// --json: the protobuf JSON mapping with the proto field names (as the
// server's JSON codec answers), default values included so scripts can rely
// on every field being there.
std::string json_of(const pb::Message& m) {
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)pb::util::MessageToJsonString(m, &out, options);
  return out;
}

template <typename Enum>
std::string name_of(Enum value) {
  return api::short_name(pb::GetEnumDescriptor<Enum>(), static_cast<int>(value));
}
std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

// "23h59m", "4m10s", "expired": how long a learnt binding has left.
std::string remaining(const pb::Timestamp& expires) {
  if (expires.seconds() == 0 && expires.nanos() == 0) return "never";
  const std::int64_t left = expires.seconds() - pb::util::TimeUtil::GetCurrentTime().seconds();
  if (left <= 0) return "expired";
  char buf[32];
  if (left >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(left / 3600),
                  static_cast<long long>(left % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(left / 60),
                  static_cast<long long>(left % 60));
  }
  return buf;
}

int ports_command(const Global& g, Io io, const std::vector<std::string>& args) {
  po::options_description desc("ports");
  v1::ListPortsRequest request;
  std::string vm_id;
  desc.add_options()("vm", po::value(&vm_id), "only this VM's ports");
  if (!parse_options("ports", desc, args, io)) return 2;
  request.set_vm_id(vm_id);
  v1::ListPortsResponse response;
  if (int rc = guard_call(g, io, "ListPorts", request, response); rc != 0) return rc;
  if (g.json) {
    io.out << json_of(response) << '\n';
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : response.ports()) {
    std::string flags;
    for (const int f : p.flags()) {
      flags += (flags.empty() ? "" : ",") + name_of(static_cast<v1::PortFlag>(f));
    }
    rows.push_back({p.port(), p.ifindex() ? std::to_string(p.ifindex()) : "-", or_dash(p.vm_id()),
                    or_dash(p.tenant_id()), or_dash(p.bridge()), std::to_string(p.vlan()),
                    or_dash(p.mac()), name_of(p.role()), name_of(p.fail_mode()), or_dash(flags),
                    std::to_string(p.binding_count())});
  }
  print_columns({"port", "ifindex", "vm_id", "tenant", "bridge", "vlan", "mac", "role", "fail_mode",
                 "flags", "bindings"},
                rows, io.out);
  return 0;
}

int bindings_command(const Global& g, Io io, const std::vector<std::string>& args) {
  po::options_description desc("bindings");
  std::string port, vm_id, page_token;
  unsigned vlan = 0, page_size = 0;
  desc.add_options()("port", po::value(&port), "only this port (tap)")(
      "vlan", po::value(&vlan), "only this VLAN")("vm", po::value(&vm_id), "only this VM")(
      "page-size", po::value(&page_size), "one page of N bindings (default: all pages)")(
      "page-token", po::value(&page_token), "the page after this token (next_page_token)");
  if (!parse_options("bindings", desc, args, io)) return 2;
  v1::ListBindingsRequest request;
  request.set_port(port);
  request.set_vlan(vlan);
  request.set_vm_id(vm_id);
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  // Without --page-size/--page-token: every page, printed as one response.
  const bool one_page = page_size != 0 || !page_token.empty();
  v1::ListBindingsResponse all;
  for (;;) {
    v1::ListBindingsResponse page;
    if (int rc = guard_call(g, io, "ListBindings", request, page); rc != 0) return rc;
    const std::string next = page.next_page_token();
    if (all.bindings_size() == 0) {
      all = std::move(page);
    } else {
      for (auto& b : *page.mutable_bindings()) *all.add_bindings() = std::move(b);
      all.set_next_page_token(next);
    }
    if (one_page || next.empty()) break;
    request.set_page_token(next);
  }
  if (g.json) {
    io.out << json_of(all) << '\n';
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : all.bindings()) {
    rows.push_back({b.port(), std::to_string(b.vlan()), b.mac(), b.ipv6(), name_of(b.origin()),
                    name_of(b.state()), or_dash(b.vm_id()),
                    !all.datapath_listed() ? "-"
                    : b.in_kernel()        ? "yes"
                                           : "NO",
                    remaining(b.expires())});
  }
  print_columns({"port", "vlan", "mac", "ipv6", "origin", "state", "vm_id", "in_kernel", "expires"},
                rows, io.out);
  if (!all.next_page_token().empty())
    io.out << "next_page_token: " << all.next_page_token() << '\n';
  return 0;
}

int counters_command(const Global& g, Io io, const std::vector<std::string>& args) {
  po::options_description desc("counters");
  std::string port, source;
  bool drops = false;
  desc.add_options()("port", po::value(&port), "only this port's counters")(
      "drops", po::bool_switch(&drops), "only drop reasons")("source", po::value(&source),
                                                             "datapath | inspector");
  if (!parse_options("counters", desc, args, io)) return 2;
  v1::GetCountersRequest request;
  request.set_port(port);
  if (drops) request.set_verdict(v1::VERDICT_DROP);
  if (source == "datapath") {
    request.set_source(v1::COUNTER_SOURCE_DATAPATH);
  } else if (source == "inspector") {
    request.set_source(v1::COUNTER_SOURCE_INSPECTOR);
  } else if (!source.empty()) {
    io.err << "v6guardctl counters: --source datapath|inspector\n";
    return 2;
  }
  v1::GetCountersResponse response;
  if (int rc = guard_call(g, io, "GetCounters", request, response); rc != 0) return rc;
  if (g.json) {
    io.out << json_of(response) << '\n';
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : response.counters()) {
    rows.push_back({name_of(c.source()), c.port().empty() ? "*" : c.port(), name_of(c.reason()),
                    name_of(c.verdict()), std::to_string(c.packets())});
  }
  print_columns({"source", "port", "reason", "verdict", "packets"}, rows, io.out);
  return 0;
}

void print_event(const v1::SecurityEvent& e, std::ostream& out) {
  const bool has_time = e.has_timestamp() && e.timestamp().seconds() != 0;
  out << (has_time ? pb::util::TimeUtil::ToString(e.timestamp()) : "-") << ' '
      << or_dash(e.severity()) << ' ' << or_dash(e.event_type()) << ' '
      << or_dash(e.violation_type()) << " vm=" << or_dash(e.vm_id())
      << " if=" << or_dash(e.interface_id());
  if (!e.details().blocked_source().empty()) out << " src=" << e.details().blocked_source();
  if (e.details().packet_count() > 0) out << " packets=" << e.details().packet_count();
  if (e.monitor()) out << " monitor";
  out << '\n';
}

int events_command(const Global& g, Io io, const std::vector<std::string>& args) {
  po::options_description desc("events");
  bool follow = false;
  std::uint64_t since = 0;
  unsigned limit = 0;
  int interval_ms = 1000;
  int max_polls = 0;  // 0 = forever (tests bound it)
  desc.add_options()("since", po::value(&since), "events after this sequence number")(
      "limit", po::value(&limit), "at most N events per call (server caps at 1000)")(
      "follow", po::bool_switch(&follow), "keep polling for new events")(
      "interval-ms", po::value(&interval_ms), "poll interval with --follow")(
      "max-polls", po::value(&max_polls), "stop --follow after N polls");
  if (!parse_options("events", desc, args, io)) return 2;
  v1::ListEventsRequest request;
  request.set_since_sequence(since);
  request.set_limit(limit);
  if (!follow) {
    v1::ListEventsResponse response;
    if (int rc = guard_call(g, io, "ListEvents", request, response); rc != 0) return rc;
    if (g.json) {
      io.out << json_of(response) << '\n';
    } else {
      for (const auto& e : response.events()) print_event(e, io.out);
    }
    return 0;
  }
  // Follow: one line per event (JSON lines with --json), asking each time
  // for what came after the last sequence number the daemon returned.
  for (int polls = 0; max_polls == 0 || polls < max_polls; ++polls) {
    v1::ListEventsResponse response;
    if (int rc = guard_call(g, io, "ListEvents", request, response); rc != 0) return rc;
    for (const auto& e : response.events()) {
      if (g.json) {
        io.out << json_of(e) << '\n';
      } else {
        print_event(e, io.out);
      }
    }
    io.out.flush();
    request.set_since_sequence(response.last_sequence());
    // A full page may have left more behind: ask again at once.
    const int page = limit == 0 || limit > 1000 ? 1000 : static_cast<int>(limit);
    if (response.events_size() < page) {
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    }
  }
  return 0;
}

int status_command(const Global& g, Io io, const std::vector<std::string>& args) {
  po::options_description desc("status");
  if (!parse_options("status", desc, args, io)) return 2;
  v1::GetStatusResponse response;
  if (int rc = guard_call(g, io, "GetStatus", v1::GetStatusRequest(), response); rc != 0) {
    return rc;
  }
  if (g.json) {
    io.out << json_of(response) << '\n';
    return 0;
  }
  io.out << "datapath: " << (response.datapath().empty() ? "none" : response.datapath()) << '\n';
  if (!response.datapath_reason().empty()) {
    io.out << "datapath_reason: " << response.datapath_reason() << '\n';
  }
  io.out << "vms: " << response.vm_count() << '\n' << "ports: " << response.port_count() << '\n';
  for (const auto& line : response.lines()) io.out << line.key() << ": " << line.value() << '\n';
  const auto& v = response.versions();
  io.out << "version: " << or_dash(v.daemon()) << " (api " << or_dash(v.api()) << ", kmod genl abi "
         << v.kmod_genl_abi() << ", protobuf " << or_dash(v.protobuf()) << ")\n";
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
  if (command == "ports") return ports_command(g, io, args);
  if (command == "bindings") return bindings_command(g, io, args);
  if (command == "counters") return counters_command(g, io, args);
  if (command == "status") return status_command(g, io, args);
  err << "v6guardctl: unknown command " << command << '\n' << kUsage;
  return 2;
}

}  // namespace v6g::cli
