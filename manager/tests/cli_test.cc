// v6guardctl in-process against a real Connect server on a unix socket. The
// fake services take and return google.protobuf.Struct, so these tests pin
// the CLI's wire behaviour and rendering, not the daemon's messages.
#include "cli/cli.h"

#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/server.h"

namespace v6g::cli {
namespace {

namespace pb = google::protobuf;
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
    server_->handle<pb::Struct, pb::Struct>(
        "/v6guard.v1.GuardService/ListEvents",
        [this](const CallContext&, const pb::Struct& req,
               pb::Struct& resp) -> std::optional<Error> {
          // Two pages: one event, then nothing new after cursor "1".
          const bool first = !req.fields().contains("after");
          ++event_polls_;
          auto* list = (*resp.mutable_fields())["events"].mutable_list_value();
          if (first) {
            auto& e = *list->add_values()->mutable_struct_value()->mutable_fields();
            e["event_type"] = text("ra_guard");
            e["violation_type"] = text("ra_from_vm_port");
            e["severity"] = text("high");
            e["vm_id"] = text("vm-a");
          } else {
            EXPECT_EQ(req.fields().at("after").string_value(), "1");
          }
          (*resp.mutable_fields())["cursor"] = text("1");
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
  int event_polls_ = 0;
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

TEST_F(CliTest, EventsFollowPollsWithCursor) {
  ASSERT_EQ(ctl({"events", "--follow", "--interval-ms", "10", "--max-polls", "3"}), 0)
      << err_.str();
  EXPECT_EQ(event_polls_, 3);
  EXPECT_EQ(out_.str(), "- high ra_guard ra_from_vm_port vm=vm-a if=-\n");
}

TEST_F(CliTest, UsageErrorsAndUnimplementedCalls) {
  EXPECT_EQ(ctl({}), 2);
  EXPECT_EQ(ctl({"vm", "create"}), 2);
  EXPECT_NE(err_.str().find("--file"), std::string::npos);
  EXPECT_EQ(ctl({"vm", "get"}), 2);
  EXPECT_EQ(ctl({"frobnicate"}), 2);
  EXPECT_EQ(ctl({"vm", "frobnicate"}), 2);
  // A procedure the daemon doesn't serve is an API error, not a crash.
  EXPECT_EQ(ctl({"status"}), 1);
  EXPECT_NE(err_.str().find("unimplemented"), std::string::npos) << err_.str();
}

TEST_F(CliTest, UnreachableDaemon) {
  server_.reset();
  EXPECT_EQ(ctl({"vm", "list"}), 3);
  EXPECT_NE(err_.str().find("cannot reach v6guardd"), std::string::npos);
}

}  // namespace
}  // namespace v6g::cli
