#include "api/client.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "api/buffered_stream.h"

namespace v6g::api {
namespace {

constexpr std::chrono::seconds kCallTimeout(30);

// httplib 0.11's client only resolves host names; connecting and the
// per-call stream are virtual steps, so a unix socket is two overrides away.
class UnixClientImpl final : public httplib::ClientImpl {
 public:
  UnixClientImpl(std::string path, std::chrono::seconds timeout)
      : ClientImpl("localhost"), path_(std::move(path)), timeout_(timeout) {}

 protected:
  bool create_and_connect_socket(Socket& socket, httplib::Error& error) override {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) {
      error = httplib::Error::Connection;
      return false;
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      if (fd >= 0) ::close(fd);
      error = httplib::Error::Connection;
      return false;
    }
    // The stream's blocking send/recv give up after the call timeout.
    const timeval tv{static_cast<time_t>(timeout_.count()), 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    socket.sock = fd;
    return true;
  }

 private:
  bool process_socket(const Socket& socket,
                      std::function<bool(httplib::Stream& strm)> callback) override {
    // The request goes out in one send when the response is first read, so
    // the server wakes once per call; the response is read with a blocking
    // recv bounded by SO_RCVTIMEO (httplib's SocketStream polled before every
    // send and recv: 3 polls + 2 sends + 2 polls + 2 recvs per call).
    BufferedStream stream(socket.sock, BufferedStream::Mode::kBlocking);
    const bool ok = callback(stream);
    return stream.flush() && ok;
  }

  std::string path_;
  std::chrono::seconds timeout_;
};

}  // namespace

Client::Client(std::unique_ptr<httplib::ClientImpl> http, std::string token)
    : http_(std::move(http)), token_(std::move(token)) {
  http_->set_keep_alive(true);
  http_->set_read_timeout(kCallTimeout);
  if (!token_.empty()) http_->set_bearer_token_auth(token_.c_str());
}

Client::~Client() = default;

std::unique_ptr<Client> Client::unix_socket(const std::string& path) {
  return std::unique_ptr<Client>(
      new Client(std::make_unique<UnixClientImpl>(path, kCallTimeout), {}));
}

std::unique_ptr<Client> Client::tcp(const std::string& host, int port, std::string token) {
  return std::unique_ptr<Client>(
      new Client(std::make_unique<httplib::ClientImpl>(host, port), std::move(token)));
}

RawResponse Client::post(std::string_view path, const std::string& body,
                         const std::string& content_type) {
  httplib::Headers headers{{"Connect-Protocol-Version", "1"}};
  auto result = http_->Post(std::string(path).c_str(), headers, body, content_type.c_str());
  RawResponse out;
  if (!result) {
    out.error = httplib::to_string(result.error());
    return out;
  }
  out.status = result->status;
  out.content_type = result->get_header_value("Content-Type");
  out.body = result->body;
  return out;
}

std::optional<Error> Client::call(std::string_view procedure,
                                  const google::protobuf::Message& request,
                                  google::protobuf::Message& response, Codec codec) {
  std::string body;
  if (auto error = encode(codec, request, body)) return error;
  const RawResponse raw = post(procedure, body, std::string(content_type(codec)));
  if (raw.status == 0) {
    return make_error(Code::kUnavailable, "cannot reach v6guardd: " + raw.error);
  }
  if (raw.status != 200) return parse_error(raw.status, raw.body);
  if (auto error = decode(codec, raw.body, response)) {
    error->code = Code::kInternal;  // the server sent something we can't read
    return error;
  }
  return std::nullopt;
}

}  // namespace v6g::api
