// Connect unary client over the daemon's unix socket (or TCP with a token),
// on cpp-httplib. Used by v6guardctl, the tests and the benchmark.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/connect.h"

namespace httplib {
class ClientImpl;
}

namespace v6g::api {

struct RawResponse {
  int status = 0;  // 0 = transport failure (see error)
  std::string content_type;
  std::string body;
  std::string error;
};

class Client {
 public:
  static std::unique_ptr<Client> unix_socket(const std::string& path);
  static std::unique_ptr<Client> tcp(const std::string& host, int port, std::string token);
  ~Client();

  // Calls "/pkg.Service/Method". Transport failures come back as unavailable.
  std::optional<Error> call(std::string_view procedure, const google::protobuf::Message& request,
                            google::protobuf::Message& response, Codec codec = Codec::kProto);

  // Raw POST for tests (bad codecs, malformed bodies).
  RawResponse post(std::string_view path, const std::string& body, const std::string& content_type);

 private:
  explicit Client(std::unique_ptr<httplib::ClientImpl> http, std::string token);
  std::unique_ptr<httplib::ClientImpl> http_;
  std::string token_;
};

}  // namespace v6g::api
