#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "api/connect.h"
#include "v6guard/v1/events.pb.h"

namespace v6g::api {
namespace {

namespace pb = google::protobuf;

pb::Struct parse_json(const std::string& json) {
  pb::Struct s;
  EXPECT_TRUE(pb::util::JsonStringToMessage(json, &s).ok()) << json;
  return s;
}

TEST(ConnectCodes, HttpStatusesFollowTheSpec) {
  EXPECT_EQ(http_status(Code::kInvalidArgument), 400);
  EXPECT_EQ(http_status(Code::kFailedPrecondition), 400);
  EXPECT_EQ(http_status(Code::kOutOfRange), 400);
  EXPECT_EQ(http_status(Code::kUnauthenticated), 401);
  EXPECT_EQ(http_status(Code::kPermissionDenied), 403);
  EXPECT_EQ(http_status(Code::kNotFound), 404);
  EXPECT_EQ(http_status(Code::kAlreadyExists), 409);
  EXPECT_EQ(http_status(Code::kAborted), 409);
  EXPECT_EQ(http_status(Code::kResourceExhausted), 429);
  EXPECT_EQ(http_status(Code::kCanceled), 499);
  EXPECT_EQ(http_status(Code::kUnimplemented), 501);
  EXPECT_EQ(http_status(Code::kUnavailable), 503);
  EXPECT_EQ(http_status(Code::kDeadlineExceeded), 504);
  for (int i = 0; i <= static_cast<int>(Code::kUnauthenticated); ++i) {
    const auto code = static_cast<Code>(i);
    EXPECT_EQ(code_from_name(code_name(code)), code);
  }
  EXPECT_FALSE(code_from_name("INVALID_ARGUMENT"));
}

TEST(ConnectCodecs, ContentTypes) {
  EXPECT_EQ(codec_from_content_type("application/json"), Codec::kJson);
  EXPECT_EQ(codec_from_content_type("Application/JSON; charset=utf-8"), Codec::kJson);
  EXPECT_EQ(codec_from_content_type("application/proto"), Codec::kProto);
  EXPECT_FALSE(codec_from_content_type("text/plain"));
  EXPECT_FALSE(codec_from_content_type("application/grpc"));
  EXPECT_FALSE(codec_from_content_type(""));
}

TEST(ConnectErrorJson, InvalidArgumentWithFieldPath) {
  Error e =
      make_error(Code::kInvalidArgument, "config.network[0].ipv6.address: not an IPv6 address");
  e.details.push_back({"config.network[0].ipv6.address",
                       "invalid_address_syntax",
                       "",
                       {{"value", std::string("2600:BEEF:1000:mgmt::100/64")}}});
  const auto body = parse_json(error_json(e));
  const auto& f = body.fields();
  EXPECT_EQ(f.at("code").string_value(), "invalid_argument");
  EXPECT_EQ(f.at("message").string_value(), e.message);
  ASSERT_EQ(f.at("details").list_value().values_size(), 1);
  const auto& d = f.at("details").list_value().values(0).struct_value().fields();
  EXPECT_EQ(d.at("type").string_value(), "google.protobuf.Struct");
  const auto& debug = d.at("debug").struct_value().fields();
  EXPECT_EQ(debug.at("field").string_value(), "config.network[0].ipv6.address");
  EXPECT_EQ(debug.at("validation_error").string_value(), "invalid_address_syntax");
  // `value` is the same Struct, serialized and base64-encoded (no padding).
  const std::string value = d.at("value").string_value();
  EXPECT_EQ(value.find('='), std::string::npos);
  EXPECT_FALSE(value.empty());
}

TEST(ConnectErrorJson, RoundTripsContextKinds) {
  Error e = make_error(Code::kPermissionDenied, "tenant acme may not use pool p2");
  e.details.push_back({"config.network[0].ipv6.pool",
                       "pool_not_authorized",
                       "",
                       {{"allowed_pools", std::vector<std::string>{"p0", "p1"}},
                        {"retry_after", std::int64_t{30}},
                        {"required_value", std::string("high")}}});
  const Error back = parse_error(403, error_json(e));
  EXPECT_EQ(back.code, Code::kPermissionDenied);
  EXPECT_EQ(back.message, e.message);
  ASSERT_EQ(back.details.size(), 1u);
  EXPECT_EQ(back.details[0].field, "config.network[0].ipv6.pool");
  std::map<std::string, ContextValue> ctx(back.details[0].context.begin(),
                                          back.details[0].context.end());
  EXPECT_EQ(std::get<std::vector<std::string>>(ctx.at("allowed_pools")),
            (std::vector<std::string>{"p0", "p1"}));
  EXPECT_EQ(std::get<std::int64_t>(ctx.at("retry_after")), 30);
  EXPECT_EQ(std::get<std::string>(ctx.at("required_value")), "high");
}

TEST(ConnectErrorJson, NonConnectBodiesFallBackToHttpStatus) {
  EXPECT_EQ(parse_error(503, "<html>bad gateway</html>").code, Code::kUnavailable);
  EXPECT_EQ(parse_error(413, "").code, Code::kResourceExhausted);
  EXPECT_EQ(parse_error(404, "").code, Code::kUnimplemented);
}

TEST(ConnectDecode, JsonAcceptsBothFieldNameStylesRejectsUnknown) {
  v6guard::v1::SecurityEvent ev;
  EXPECT_FALSE(decode(Codec::kJson, R"({"vm_id":"a","tenantId":"t"})", ev));
  EXPECT_EQ(ev.vm_id(), "a");
  EXPECT_EQ(ev.tenant_id(), "t");
  auto err = decode(Codec::kJson, R"({"vm_id":"a","nope":1})", ev);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kInvalidArgument);
  EXPECT_NE(err->message.find("nope"), std::string::npos) << err->message;
  EXPECT_TRUE(decode(Codec::kJson, R"({"vm_id":)", ev));
  EXPECT_TRUE(decode(Codec::kJson, R"({"details":{"packet_count":"x"}})", ev));
}

TEST(ConnectDecode, ProtoRejectsGarbageAndUnknownFieldsAtAnyDepth) {
  v6guard::v1::SecurityEvent ev;
  ev.set_vm_id("vm");
  ev.mutable_details()->set_packet_count(3);
  std::string wire = ev.SerializeAsString();
  v6guard::v1::SecurityEvent back;
  EXPECT_FALSE(decode(Codec::kProto, wire, back));
  EXPECT_EQ(back.details().packet_count(), 3u);

  EXPECT_TRUE(decode(Codec::kProto, std::string("\xff\xff\xff", 3), back));
  // Field 99 (varint 1) at the top level.
  auto err = decode(Codec::kProto, wire + std::string("\x98\x06\x01", 3), back);
  ASSERT_TRUE(err);
  EXPECT_NE(err->message.find("#99"), std::string::npos) << err->message;
  // Field 99 inside details (field 8): rebuild details with an extra field.
  std::string details = ev.details().SerializeAsString() + std::string("\x98\x06\x01", 3);
  std::string nested =
      std::string("\x22\x02vm", 4) + "\x42" + static_cast<char>(details.size()) + details;
  err = decode(Codec::kProto, nested, back);
  ASSERT_TRUE(err);
  EXPECT_NE(err->message.find("details.#99"), std::string::npos) << err->message;
}

TEST(ConnectEncode, JsonUsesProtoFieldNames) {
  v6guard::v1::SecurityEvent ev;
  ev.set_vm_id("vm-1");
  std::string out;
  ASSERT_FALSE(encode(Codec::kJson, ev, out));
  EXPECT_EQ(out, R"({"vm_id":"vm-1"})");
}

}  // namespace
}  // namespace v6g::api
