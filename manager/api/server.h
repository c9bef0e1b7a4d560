// Connect unary server over HTTP/1.1 (cpp-httplib): a unix socket by default
// (peer credentials via SO_PEERCRED decide who may call), optional TCP that
// requires `Authorization: Bearer <token>`. Generic over protobuf messages:
// the daemon registers VmService / GuardService methods with handle<Req, Resp>.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/connect.h"
#include "common/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace v6g::api {

struct ServerOptions {
  std::string socket_path = "/run/v6guard/api.sock";
  mode_t socket_mode = 0660;  // owner + group; the group is the operators'
  // Peers allowed on the unix socket besides root and the daemon's own uid.
  std::vector<uid_t> allowed_uids;
  std::vector<gid_t> allowed_gids;

  // TCP listener, off unless tcp_port >= 0 (0 = pick a free port, see tcp_port()).
  int tcp_port = -1;
  std::string tcp_host = "127.0.0.1";
  // token -> token id (the id, never the token, goes into the audit log).
  std::vector<std::pair<std::string, std::string>> tokens;

  std::size_t max_body_bytes = 1 << 20;
  std::chrono::seconds read_timeout{5};
  // Workers; each keep-alive connection holds one while it lives (httplib's
  // model), so this bounds concurrent callers. Concurrent CreateVm calls are
  // group-committed, so more concurrent callers means fewer commits.
  int threads = 16;
};

// Who is calling, for authorization and the audit log.
struct CallContext {
  std::string who;  // "uid:1000" or "token:ci"
  bool unix_peer = false;
  uid_t uid = static_cast<uid_t>(-1);
  pid_t pid = 0;
};

class Server {
 public:
  using Unary = std::function<std::optional<Error>(const CallContext&,
                                                   const google::protobuf::Message& request,
                                                   google::protobuf::Message& response)>;

  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers "/<package>.<Service>/<Method>". Call before start().
  template <typename Req, typename Resp>
  void handle(const std::string& procedure,
              std::function<std::optional<Error>(const CallContext&, const Req&, Resp&)> fn) {
    add_method(procedure, Req::default_instance(), Resp::default_instance(),
               [fn = std::move(fn)](const CallContext& ctx, const google::protobuf::Message& req,
                                    google::protobuf::Message& resp) {
                 return fn(ctx, static_cast<const Req&>(req), static_cast<Resp&>(resp));
               });
  }

  // Binds the listeners and serves in background threads.
  Status start();
  void stop();

  const std::string& socket_path() const { return options_.socket_path; }
  int tcp_port() const { return bound_tcp_port_; }

 private:
  struct Method {
    const google::protobuf::Message* request_prototype;
    const google::protobuf::Message* response_prototype;
    Unary fn;
  };
  enum class Transport : std::uint8_t { kUnix, kTcp };

  void add_method(const std::string& procedure, const google::protobuf::Message& request,
                  const google::protobuf::Message& response, Unary fn);
  void install_routes(httplib::Server& http, Transport transport);
  void dispatch(Transport transport, const httplib::Request& req, httplib::Response& res);
  bool unix_peer_allowed(uid_t uid, gid_t gid) const;
  std::optional<Error> authorize(Transport transport, const httplib::Request& req,
                                 CallContext& ctx) const;

  ServerOptions options_;
  std::unordered_map<std::string, Method> methods_;
  std::unique_ptr<httplib::Server> unix_http_;
  std::unique_ptr<httplib::Server> tcp_http_;
  std::thread unix_thread_;
  std::thread tcp_thread_;
  int bound_tcp_port_ = -1;
  std::atomic<bool> stopping_{false};
};

}  // namespace v6g::api
