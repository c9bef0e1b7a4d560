#include "api/server.h"

#include <google/protobuf/arena.h>
#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "api/buffered_stream.h"

namespace v6g::api {
namespace {

// Set by the pre-routing check when it answers without reading the body; the
// connection loop then closes rather than parse that body as the next request.
thread_local bool t_close_after_response = false;

// httplib 0.11 has no AF_UNIX listener and no access to the accepted socket,
// so this subclass supplies both: we bind the socket, and the (virtual)
// per-connection entry point reads the peer credentials before serving.
class UnixHttpServer final : public httplib::Server {
 public:
  // httplib only clears is_running() after its workers finished, so an idle
  // keep-alive connection needs its own stop signal.
  // admit() decides from the peer's credentials before a byte is read, so
  // local users who may not call can't tie up workers either.
  UnixHttpServer(const std::atomic<bool>& stopping, std::function<bool(const ucred&)> admit)
      : stopping_(stopping), admit_(std::move(admit)) {}
  // httplib's destructor leaves the listening socket open when listen never ran.
  ~UnixHttpServer() override {
    const int fd = svr_sock_.exchange(INVALID_SOCKET);
    if (fd != INVALID_SOCKET) ::close(fd);
  }

  Status bind_unix(const std::string& path, mode_t mode) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) return Status::error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    // /run/v6guard is tmpfs and gone after a reboot; create the directory
    // (not world-writable) rather than fail the daemon start.
    const auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty() && std::filesystem::create_directories(dir, ec)) {
      std::filesystem::permissions(dir, std::filesystem::perms(0755), ec);
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::error(std::string("socket: ") + std::strerror(errno));
    // A stale socket from a previous run would make bind fail; only ever
    // remove a socket, never a regular file someone pointed us at.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    const mode_t old_mask = ::umask(0777 & ~mode);
    const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    ::umask(old_mask);
    if (rc != 0 || ::chmod(path.c_str(), mode) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Status::error("bind " + path + ": " + why);
    }
    svr_sock_ = fd;
    return {};
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || !admit_(cred)) {
      refuse(sock, cred.uid);
      return false;
    }
    char peer[64];
    std::snprintf(peer, sizeof(peer), "uid=%u gid=%u pid=%d", cred.uid, cred.gid, cred.pid);
    const std::chrono::milliseconds read_timeout(read_timeout_sec_ * 1000 +
                                                 read_timeout_usec_ / 1000);
    const std::chrono::milliseconds write_timeout(write_timeout_sec_ * 1000 +
                                                  write_timeout_usec_ / 1000);
    // The peer's credentials (SO_PEERCRED, taken by the kernel at connect
    // time, so they can't be forged by the client) reach the request as
    // remote_addr. Responses go out in one send (see BufferedStream).
    BufferedStream stream(sock, BufferedStream::Mode::kPolled, peer, read_timeout, write_timeout);
    // Keep-alive loop like httplib's own, but waking every 100 ms so stop()
    // never waits for an idle client's keep-alive timeout: the wait for the
    // next request is a blocking recv that gives up after 100 ms (the
    // stream's reads within a request don't block on the socket).
    const timeval wake{0, 100'000};
    (void)::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &wake, sizeof(wake));
    bool ok = true;
    for (std::size_t left = keep_alive_max_count_; ok && left > 0 && !stopping_; --left) {
      if (!wait_for_request(stream)) break;
      stream.start_request(std::chrono::steady_clock::now() + 2 * read_timeout);
      bool closed = false;
      t_close_after_response = false;
      ok = process_request(stream, left == 1, closed, nullptr);
      ok = stream.flush() && ok && !closed && !t_close_after_response;
    }
    if (t_close_after_response) {
      // Refused before its body was read (411/415): the body may still be on
      // its way, and closing with unread data resets the connection - the
      // peer would see that instead of the answer.
      ::shutdown(sock, SHUT_WR);
      drain_and_close(sock);
      return ok;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  // A canned Connect error, then drain what the peer already sent (closing a
  // unix socket with unread data resets it, and the peer would never see the
  // answer), bounded in time and bytes.
  static void refuse(int sock, uid_t uid) {
    const std::string body = error_json(make_error(
        Code::kPermissionDenied, "uid " + std::to_string(uid) + " may not use the v6guard API"));
    const std::string response =
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    (void)::send(sock, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(sock, SHUT_WR);
    drain_and_close(sock);
  }

  // Reads and discards what the peer already sent, bounded in time and bytes,
  // then closes.
  static void drain_and_close(int sock) {
    char sink[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    for (std::size_t drained = 0; drained < 64 * 1024;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{sock, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(sock, sink, sizeof(sink), MSG_DONTWAIT);
      if (n <= 0) break;
      drained += static_cast<std::size_t>(n);
    }
    ::close(sock);
  }

  // A pipelined request may already sit in the stream's buffer.
  bool wait_for_request(BufferedStream& stream) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
      switch (stream.await_input()) {
        case BufferedStream::Input::kArrived:
          return true;
        case BufferedStream::Input::kClosed:
          return false;
        case BufferedStream::Input::kTimedOut:
          break;
      }
    }
    return false;
  }

  const std::atomic<bool>& stopping_;
  std::function<bool(const ucred&)> admit_;
};

bool parse_peer(const std::string& text, CallContext& ctx) {
  unsigned uid = 0, gid = 0;
  int pid = 0;
  if (std::sscanf(text.c_str(), "uid=%u gid=%u pid=%d", &uid, &gid, &pid) != 3) return false;
  ctx.uid = uid;
  ctx.pid = pid;
  ctx.who = "uid:" + std::to_string(uid);
  return true;
}

void reply(httplib::Response& res, const Error& error) {
  res.status = error.status();
  res.set_content(error_json(error), "application/json");
}

bool wait_running(const httplib::Server& http) {
  for (int i = 0; i < 5000 && !http.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return http.is_running();
}

}  // namespace

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() { stop(); }

void Server::add_method(const std::string& procedure, const google::protobuf::Message& request,
                        const google::protobuf::Message& response, Unary fn) {
  methods_[procedure] = Method{&request, &response, std::move(fn)};
}

bool Server::unix_peer_allowed(uid_t uid, gid_t gid) const {
  const auto& uids = options_.allowed_uids;
  const auto& gids = options_.allowed_gids;
  return uid == 0 || uid == ::geteuid() || std::find(uids.begin(), uids.end(), uid) != uids.end() ||
         std::find(gids.begin(), gids.end(), gid) != gids.end();
}

std::optional<Error> Server::authorize(Transport transport, const httplib::Request& req,
                                       CallContext& ctx) const {
  if (transport == Transport::kTcp) {
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.compare(0, kBearer.size(), kBearer) == 0) {
      const std::string presented = header.substr(kBearer.size());
      for (const auto& [token, id] : options_.tokens) {
        // Length is not secret; compare every byte so timing doesn't leak a prefix.
        if (token.size() != presented.size()) continue;
        unsigned char diff = 0;
        for (std::size_t i = 0; i < token.size(); ++i) {
          diff |= static_cast<unsigned char>(token[i] ^ presented[i]);
        }
        if (diff == 0) {
          ctx.who = "token:" + id;
          return std::nullopt;
        }
      }
    }
    return make_error(Code::kUnauthenticated, "missing or invalid bearer token");
  }
  ctx.unix_peer = true;
  if (!parse_peer(req.remote_addr, ctx)) {
    return make_error(Code::kUnauthenticated, "no peer credentials on the unix socket");
  }
  // Checked at accept already; again here so the rule has one definition.
  unsigned gid = 0;
  (void)std::sscanf(req.remote_addr.c_str(), "uid=%*u gid=%u", &gid);
  if (!unix_peer_allowed(ctx.uid, gid)) {
    return make_error(Code::kPermissionDenied,
                      "uid " + std::to_string(ctx.uid) + " may not use the v6guard API");
  }
  return std::nullopt;
}

void Server::dispatch(Transport transport, const httplib::Request& req, httplib::Response& res) {
  CallContext ctx;
  if (auto error = authorize(transport, req, ctx)) return reply(res, *error);

  const auto method = methods_.find(req.path);
  if (method == methods_.end()) {
    Error e = make_error(Code::kUnimplemented, "no procedure " + req.path);
    e.http_status_override = 404;
    return reply(res, e);
  }
  const auto codec = codec_from_content_type(req.get_header_value("Content-Type"));
  if (!codec) {
    // The spec: unsupported codecs get 415 and the list of what we accept.
    res.set_header("Accept-Post", "application/json, application/proto");
    Error e = make_error(Code::kUnimplemented,
                         "unsupported content type \"" + req.get_header_value("Content-Type") +
                             "\" (use application/json or application/proto)");
    e.http_status_override = 415;
    return reply(res, e);
  }
  // The request lives on an arena: its ~30 strings and nested messages are
  // one block, freed at once (malloc/free of the parsed request and its
  // destructor showed in perf). The response stays on the heap: handlers
  // move heap-built messages into it, which across arenas would copy.
  // The arena starts in a buffer of the worker thread's own, so a usual
  // request allocates nothing: grown from the heap, its blocks (256 B doubling
  // to 8 KiB) were large mallocs that each consolidated glibc's fast bins
  // (~2% of a CreateVm's CPU in perf). Bigger requests continue on the heap.
  alignas(std::max_align_t) thread_local std::array<char, 16 * 1024> first_block;
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = first_block.data();
  arena_options.initial_block_size = first_block.size();
  google::protobuf::Arena arena(arena_options);
  google::protobuf::Message* request = method->second.request_prototype->New(&arena);
  std::unique_ptr<google::protobuf::Message> response(method->second.response_prototype->New());
  if (auto error = decode(*codec, req.body, *request)) return reply(res, *error);
  if (auto error = method->second.fn(ctx, *request, *response)) return reply(res, *error);
  std::string body;
  if (auto error = encode(*codec, *response, body)) return reply(res, *error);
  res.status = 200;
  // Rendered once, moved (set_content would copy the body).
  res.body = std::move(body);
  res.set_header("Content-Type", std::string(content_type(*codec)));
}

void Server::install_routes(httplib::Server& http, Transport transport) {
  http.set_payload_max_length(options_.max_body_bytes);
  http.set_read_timeout(options_.read_timeout);
  http.set_write_timeout(options_.read_timeout);
  // Each connection holds a worker thread while it lives (httplib's model), so
  // idle keep-alive connections are cut short to keep the pool available.
  http.set_keep_alive_timeout(2);
  // httplib closes a keep-alive connection after 5 requests by default, so a
  // busy client reconnected every 5th call (socket, connect, accept, a new
  // pool task: ~1/4 of the socket syscalls of a create in strace). 100 still
  // hands a worker to a waiting connection every ~100 calls of a busy one.
  http.set_keep_alive_max_count(100);
  http.new_task_queue = [threads = options_.threads] {
    return new httplib::ThreadPool(static_cast<std::size_t>(threads));
  };
  // Before httplib reads a body. It enforces payload_max_length only on
  // Content-Length bodies (a chunked body grew without bound until the request
  // deadline) and parses multipart/form-data itself; Connect unary requests
  // carry a Content-Length and a Connect codec, so refuse anything else unread.
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "POST") return httplib::Server::HandlerResponse::Unhandled;
    Error e;
    if (req.has_header("Transfer-Encoding")) {
      e = make_error(Code::kInvalidArgument,
                     "request body needs a Content-Length (Transfer-Encoding is not accepted)");
      e.http_status_override = 411;
    } else if (!codec_from_content_type(req.get_header_value("Content-Type"))) {
      res.set_header("Accept-Post", "application/json, application/proto");
      e = make_error(Code::kUnimplemented, "unsupported content type \"" +
                                               req.get_header_value("Content-Type") +
                                               "\" (use application/json or application/proto)");
      e.http_status_override = 415;
    } else {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("Connection", "close");
    t_close_after_response = true;
    reply(res, e);
    return httplib::Server::HandlerResponse::Handled;
  });
  http.Post(".*", [this, transport](const httplib::Request& req, httplib::Response& res) {
    dispatch(transport, req, res);
  });
  const auto not_post = [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Allow", "POST");
    Error e = make_error(Code::kUnimplemented, "Connect unary calls use POST");
    e.http_status_override = 405;
    reply(res, e);
  };
  http.Get(".*", not_post);
  http.Put(".*", not_post);
  http.Delete(".*", not_post);
  http.Patch(".*", not_post);
  // httplib answers some failures itself (413 body too large, 400 bad
  // request line); give those the Connect error shape too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&,
                                                                 httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    Error e = make_error(code_from_http_status(res.status), "HTTP " + std::to_string(res.status));
    if (res.status == 413) e.message = "request body too large";
    e.http_status_override = res.status;
    reply(res, e);
    return httplib::Server::HandlerResponse::Handled;
  }));
}

Status Server::start() {
  stopping_ = false;
  auto unix_http = std::make_unique<UnixHttpServer>(
      stopping_, [this](const ucred& peer) { return unix_peer_allowed(peer.uid, peer.gid); });
  install_routes(*unix_http, Transport::kUnix);
  if (auto s = unix_http->bind_unix(options_.socket_path, options_.socket_mode); !s) return s;
  if (options_.tcp_port >= 0) {
    if (options_.tokens.empty()) return Status::error("TCP listener needs at least one token");
    tcp_http_ = std::make_unique<httplib::Server>();
    install_routes(*tcp_http_, Transport::kTcp);
    if (options_.tcp_port == 0) {
      bound_tcp_port_ = tcp_http_->bind_to_any_port(options_.tcp_host);
    } else if (tcp_http_->bind_to_port(options_.tcp_host, options_.tcp_port)) {
      bound_tcp_port_ = options_.tcp_port;
    }
    if (bound_tcp_port_ < 0) {
      tcp_http_.reset();
      ::unlink(options_.socket_path.c_str());
      return Status::error("cannot listen on " + options_.tcp_host + ":" +
                           std::to_string(options_.tcp_port));
    }
    tcp_thread_ = std::thread([http = tcp_http_.get()] { http->listen_after_bind(); });
    if (!wait_running(*tcp_http_)) return Status::error("TCP listener did not start");
  }
  unix_http_ = std::move(unix_http);
  unix_thread_ = std::thread([http = unix_http_.get()] { http->listen_after_bind(); });
  if (!wait_running(*unix_http_)) return Status::error("unix listener did not start");
  return {};
}

void Server::stop() {
  stopping_ = true;
  for (auto* http : {unix_http_.get(), tcp_http_.get()}) {
    if (http) http->stop();
  }
  if (unix_thread_.joinable()) unix_thread_.join();
  if (tcp_thread_.joinable()) tcp_thread_.join();
  if (unix_http_) ::unlink(options_.socket_path.c_str());
  unix_http_.reset();
  tcp_http_.reset();
}

}  // namespace v6g::api
