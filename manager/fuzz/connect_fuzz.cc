// libFuzzer target for Connect request bodies: any bytes as a CreateVmRequest
// in both codecs (application/json and application/proto), then what the
// server does with a decoded request (validate_create_vm under the spec's
// host config, error details). Also the client side: a Connect error body
// read back by parse_error. Checks that a decoded request survives the
// round trip through the other codec unchanged: JSON and proto callers must
// get the same validation.
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "api/connect.h"
#include "config/host_config.h"
#include "config/validate.h"
#include "vmprovisioner/v1/vm.pb.h"

namespace {

using v6g::api::Codec;
using vmprovisioner::v1::CreateVmRequest;

const v6g::config::HostConfig& spec_host() {
  static const auto* host = [] {
    std::ifstream in(V6G_TEST_DATA "/spec/host.json");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string error;
    auto h = v6g::config::parse_host_config(ss.str(), &error);
    if (!h) std::abort();
    return new v6g::config::HostConfig(std::move(*h));
  }();
  return *host;
}

void serve(const CreateVmRequest& request) {
  v6g::config::ExistingState busy;  // the bridge belongs to someone else, tap0 is taken
  busy.bridge_owner["br-tenant-a"] = "tenant-b";
  busy.taps_in_use.insert("tap0");
  for (const auto& existing : {v6g::config::ExistingState{}, busy}) {
    const auto violations = v6g::config::validate_create_vm(request, spec_host(), existing);
    for (const auto& v : violations) {
      if (v.field.empty() || v.code.empty()) std::abort();  // every rejection names field + code
      (void)v6g::config::violation_details(v);
    }
  }
}

void round_trip(const CreateVmRequest& request, Codec via) {
  std::string bytes;
  if (v6g::api::encode(via, request, bytes)) std::abort();
  CreateVmRequest back;
  if (auto err = v6g::api::decode(via, bytes, back)) std::abort();
  if (!google::protobuf::util::MessageDifferencer::Equals(request, back)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (Codec codec : {Codec::kJson, Codec::kProto}) {
    CreateVmRequest request;
    if (auto err = v6g::api::decode(codec, body, request)) {
      if (err->code != v6g::api::Code::kInvalidArgument || err->message.empty()) std::abort();
      (void)v6g::api::error_json(*err);
      continue;
    }
    serve(request);
    round_trip(request, codec == Codec::kJson ? Codec::kProto : Codec::kJson);
    (void)v6g::api::to_json(request);
  }
  // The client reads error bodies from whatever answers on the socket.
  const auto e = v6g::api::parse_error(400, body);
  (void)v6g::api::error_json(e);
  return 0;
}
