// v6guardctl in-process against a real Connect server on a unix socket with
// fake handlers: VmService ones on google.protobuf.Struct (the vm commands
// speak the JSON codec), GuardService ones on the typed v6guard.v1 messages.
// These pin the CLI's wire behaviour and rendering, not the daemon's
// (api_guard_status_test covers the real GuardService).
#include "cli/cli.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/server.h"
#include "v6guard/v1/guard.pb.h"

namespace v6g::cli {
namespace {

namespace pb = google::protobuf;
namespace v1 = v6guard::v1;
using api::CallContext;
using api::Error;

pb::Value text(std::string s) {
  pb::Value v;
  v.set_string_value(std::move(s));
  return v;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v6g-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    api::ServerOptions options;
    options.socket_path = dir_ + "/api.sock";
    options.threads = 2;
    server_ = std::make_unique<api::Server>(options);
    server_->handle<pb::Struct, pb::Struct>(
        "/vmprovisioner.v1.VmService/CreateVm",
        [this](const CallContext&, const pb::Struct& req,
               pb::Struct& resp) -> std::optional<Error> {
          last_request_ = req;
          const auto& f = req.fields();
          if (f.contains("tenant_id") && f.at("tenant_id").string_value() == "bad") {
            Error e = api::make_error(api::Code::kInvalidArgument,
                                      "config.network[0].ipv6.address: not an IPv6 address");
            e.details.push_back(
                {"config.network[0].ipv6.address",
                 "invalid_address_syntax",
                 "",
                 {{"allocated_blocks", std::vector<std::string>{"2600:beef:1000::/44"}}}});
            return e;
          }
          (*resp.mutable_fields())["vm_id"] = text("vm-1");
          return std::nullopt;
        });
    server_->handle<pb::Struct, pb::Struct>(
        "/vmprovisioner.v1.VmService/ListVms",
        [this](const CallContext&, const pb::Struct& req,
               pb::Struct& resp) -> std::optional<Error> {
          last_request_ = req;
          auto* list = (*resp.mutable_fields())["vms"].mutable_list_value();
          for (const char* id : {"vm-a", "vm-bb"}) {
            auto& row = *list->add_values()->mutable_struct_value()->mutable_fields();
            row["vm_id"] = text(id);
            row["tenant_id"] = text("acme");
            row["addresses"].mutable_list_value()->add_values()->set_string_value(
                "2600:beef:1000::10");
          }
          return std::nullopt;
        });
    server_->handle<pb::Struct, pb::Struct>(
        "/vmprovisioner.v1.VmService/DeleteVm",
        [this](const CallContext&, const pb::Struct& req, pb::Struct&) -> std::optional<Error> {
          last_request_ = req;
          return api::make_error(api::Code::kNotFound, "vm nope not found");
        });
    server_->handle<v1::ListEventsRequest, v1::ListEventsResponse>(
        "/v6guard.v1.GuardService/ListEvents",
        [this](const CallContext&, const v1::ListEventsRequest& req,
               v1::ListEventsResponse& resp) -> std::optional<Error> {
          // One event (sequence 1), then nothing new.
          event_requests_.push_back(req);
          if (req.since_sequence() == 0) {
            v1::SecurityEvent& e = *resp.add_events();
            e.set_event_type("ra_guard");
            e.set_violation_type("ra_from_vm_port");
            e.set_severity("high");
            e.set_vm_id("vm-a");
            e.mutable_timestamp()->set_seconds(1764520800);  // 2025-11-30T16:40:00Z
            e.mutable_details()->set_blocked_source("fe80::1");
            e.mutable_details()->set_packet_count(12);
            e.set_monitor(true);
          }
          resp.set_last_sequence(1);
          return std::nullopt;
        });
    server_->handle<v1::ListBindingsRequest, v1::ListBindingsResponse>(
        "/v6guard.v1.GuardService/ListBindings",
        [this](const CallContext&, const v1::ListBindingsRequest& req,
               v1::ListBindingsResponse& resp) -> std::optional<Error> {
          // Three bindings in pages of two, whatever page_size says.
          binding_requests_.push_back(req);
          const int first = req.page_token().empty() ? 0 : std::stoi(req.page_token());
          for (int i = first; i < 3 && i < first + 2; ++i) {
            v1::Binding& b = *resp.add_bindings();
            b.set_port("tap-" + std::to_string(i));
            b.set_vlan(100);
            b.set_mac("02:00:00:00:00:0" + std::to_string(i));
            b.set_ipv6("2600:beef::" + std::to_string(i));
            b.set_origin(i == 2 ? v1::ORIGIN_LEARNT : v1::ORIGIN_STATIC);
            b.set_state(v1::BINDING_STATE_VALID);
            b.set_in_kernel(i != 1);
          }
          if (first + 2 < 3) resp.set_next_page_token(std::to_string(first + 2));
          resp.set_total_count(3);
          resp.set_datapath_listed(req.port() != "unlisted");
          return std::nullopt;
        });
    auto s = server_->start();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  int ctl(std::vector<std::string> args) {
    std::vector<const char*> argv{"v6guardctl", "--socket", nullptr};
    const std::string socket = dir_ + "/api.sock";
    argv[2] = socket.c_str();
    for (const auto& a : args) argv.push_back(a.c_str());
    out_.str("");
    err_.str("");
    return run(static_cast<int>(argv.size()), argv.data(), out_, err_);
  }

  std::string dir_;
  std::unique_ptr<api::Server> server_;
  pb::Struct last_request_;
  std::vector<v1::ListEventsRequest> event_requests_;
  std::vector<v1::ListBindingsRequest> binding_requests_;
  std::ostringstream out_, err_;
};

TEST_F(CliTest, VmCreateSendsTheFileAndPrintsTheResult) {
  const std::string file = dir_ + "/vm.json";
  std::ofstream(file) << R"({"tenant_id":"acme","config":{"cpu":{"count":2}}})";
  ASSERT_EQ(ctl({"vm", "create", "-f", file}), 0) << err_.str();
  EXPECT_EQ(last_request_.fields().at("tenant_id").string_value(), "acme");
  EXPECT_EQ(out_.str(), "vm_id: vm-1\n");
  ASSERT_EQ(ctl({"--json", "vm", "create", "-f", file}), 0);
  EXPECT_EQ(out_.str(), "{\"vm_id\":\"vm-1\"}\n");
}

TEST_F(CliTest, ValidationErrorsShowCodeMessageFieldAndContext) {
  const std::string file = dir_ + "/bad.json";
  std::ofstream(file) << R"({"tenant_id":"bad"})";
  EXPECT_EQ(ctl({"vm", "create", "-f", file}), 1);
  EXPECT_EQ(err_.str(),
            "error: invalid_argument: config.network[0].ipv6.address: not an IPv6 address\n"
            "  field config.network[0].ipv6.address: invalid_address_syntax\n"
            "    allocated_blocks: 2600:beef:1000::/44\n");
}

TEST_F(CliTest, VmListPrintsAnAlignedTable) {
  ASSERT_EQ(ctl({"vm", "list", "--tenant", "acme"}), 0) << err_.str();
  EXPECT_EQ(last_request_.fields().at("tenant_id").string_value(), "acme");
  EXPECT_EQ(out_.str(),
            "VM_ID  TENANT_ID  ADDRESSES\n"
            "vm-a   acme       2600:beef:1000::10\n"
            "vm-bb  acme       2600:beef:1000::10\n");
}

TEST_F(CliTest, VmDeleteNotFound) {
  EXPECT_EQ(ctl({"vm", "delete", "nope"}), 1);
  EXPECT_EQ(last_request_.fields().at("vm_id").string_value(), "nope");
  EXPECT_EQ(err_.str(), "error: not_found: vm nope not found\n");
}

TEST_F(CliTest, EventsFollowPollsWithTheLastSequence) {
  ASSERT_EQ(ctl({"events", "--follow", "--interval-ms", "10", "--max-polls", "3"}), 0)
      << err_.str();
  ASSERT_EQ(event_requests_.size(), 3u);
  EXPECT_EQ(event_requests_[0].since_sequence(), 0u);
  EXPECT_EQ(event_requests_[1].since_sequence(), 1u);
  EXPECT_EQ(event_requests_[2].since_sequence(), 1u);
  EXPECT_EQ(out_.str(),
            "2025-11-30T16:40:00Z high ra_guard ra_from_vm_port vm=vm-a if=- src=fe80::1 "
            "packets=12 monitor\n");
  // One call without --follow; --since and --limit go on the wire.
  event_requests_.clear();
  ASSERT_EQ(ctl({"events", "--since", "7", "--limit", "5"}), 0) << err_.str();
  ASSERT_EQ(event_requests_.size(), 1u);
  EXPECT_EQ(event_requests_[0].since_sequence(), 7u);
  EXPECT_EQ(event_requests_[0].limit(), 5u);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, EventsJsonIsTheProtobufJsonMapping) {
  ASSERT_EQ(ctl({"--json", "events"}), 0) << err_.str();
  v1::ListEventsResponse parsed;
  ASSERT_TRUE(pb::util::JsonStringToMessage(out_.str(), &parsed).ok()) << out_.str();
  ASSERT_EQ(parsed.events_size(), 1);
  EXPECT_EQ(parsed.events(0).details().packet_count(), 12u);
  EXPECT_EQ(parsed.last_sequence(), 1u);
  // Proto field names; uint64 as a string; defaults printed.
  EXPECT_NE(out_.str().find(R"("violation_type":"ra_from_vm_port")"), std::string::npos);
  EXPECT_NE(out_.str().find(R"("last_sequence":"1")"), std::string::npos);
  EXPECT_NE(out_.str().find(R"("tenant_id":"")"), std::string::npos);
}

TEST_F(CliTest, BindingsWalksEveryPageUnlessAskedForOne) {
  ASSERT_EQ(ctl({"bindings", "--port", "tap-0", "--vlan", "100", "--vm", "vm-a"}), 0) << err_.str();
  ASSERT_EQ(binding_requests_.size(), 2u);
  EXPECT_EQ(binding_requests_[0].port(), "tap-0");
  EXPECT_EQ(binding_requests_[0].vlan(), 100u);
  EXPECT_EQ(binding_requests_[0].vm_id(), "vm-a");
  EXPECT_EQ(binding_requests_[1].page_token(), "2");
  EXPECT_EQ(binding_requests_[1].port(), "tap-0");
  EXPECT_EQ(
      out_.str(),
      "PORT   VLAN  MAC                IPV6          ORIGIN  STATE  VM_ID  IN_KERNEL  "
      "EXPIRES\n"
      "tap-0  100   02:00:00:00:00:00  2600:beef::0  static  valid  -      yes        never\n"
      "tap-1  100   02:00:00:00:00:01  2600:beef::1  static  valid  -      NO         never\n"
      "tap-2  100   02:00:00:00:00:02  2600:beef::2  learnt  valid  -      yes        never\n");
  // Unknown to the datapath: "-" rather than a misleading NO.
  ASSERT_EQ(ctl({"bindings", "--port", "unlisted", "--page-size", "2"}), 0);
  EXPECT_NE(out_.str().find("static  valid  -      -          never"), std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("next_page_token: 2\n"), std::string::npos) << out_.str();
  binding_requests_.clear();
  ASSERT_EQ(ctl({"--json", "bindings", "--page-token", "2"}), 0);
  ASSERT_EQ(binding_requests_.size(), 1u);
  v1::ListBindingsResponse parsed;
  ASSERT_TRUE(pb::util::JsonStringToMessage(out_.str(), &parsed).ok()) << out_.str();
  ASSERT_EQ(parsed.bindings_size(), 1);
  EXPECT_EQ(parsed.bindings(0).origin(), v1::ORIGIN_LEARNT);
  // A merged --json response of every page is one message too.
  ASSERT_EQ(ctl({"--json", "bindings"}), 0);
  ASSERT_TRUE(pb::util::JsonStringToMessage(out_.str(), &parsed).ok()) << out_.str();
  EXPECT_EQ(parsed.bindings_size(), 3);
  EXPECT_TRUE(parsed.next_page_token().empty());
}

TEST_F(CliTest, UsageErrorsAndUnimplementedCalls) {
  EXPECT_EQ(ctl({}), 2);
  EXPECT_EQ(ctl({"vm", "create"}), 2);
  EXPECT_NE(err_.str().find("--file"), std::string::npos);
  EXPECT_EQ(ctl({"vm", "get"}), 2);
  EXPECT_EQ(ctl({"frobnicate"}), 2);
  EXPECT_EQ(ctl({"vm", "frobnicate"}), 2);
  EXPECT_EQ(ctl({"bindings", "--vlan", "many"}), 2);
  EXPECT_EQ(ctl({"counters", "--source", "kernel"}), 2);
  EXPECT_EQ(ctl({"status", "extra"}), 2);
  // A procedure the daemon doesn't serve is an API error, not a crash.
  EXPECT_EQ(ctl({"status"}), 1);
  EXPECT_NE(err_.str().find("unimplemented"), std::string::npos) << err_.str();
  EXPECT_EQ(ctl({"counters"}), 1);
}

TEST_F(CliTest, UnreachableDaemon) {
  server_.reset();
  EXPECT_EQ(ctl({"vm", "list"}), 3);
  EXPECT_NE(err_.str().find("cannot reach v6guardd"), std::string::npos);
  EXPECT_EQ(ctl({"bindings"}), 3);
  EXPECT_NE(err_.str().find("cannot reach v6guardd"), std::string::npos);
}

}  // namespace
}  // namespace v6g::cli
