// A connected unix socket as an httplib Stream, buffered both ways - the
// one stream under the API server's connections and the client's calls.
//
// httplib reads the status/request line and headers a byte at a time
// through read(), and writes the header block and the body separately; its
// own SocketStream polls before every send and recv. Here reads refill a
// buffer (one recv per packet, not per byte), and writes collect until
// flush() - called once the message is complete, or before the next read
// that has to wait (so a "100 Continue" still goes out first) - so each side
// sends a message in one send and wakes its peer once.
#pragma once

#include <httplib.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <string>

namespace v6g::api {

class BufferedStream : public httplib::Stream {
 public:
  // How a read or send waits for the peer.
  //  kBlocking: plain blocking recv/send, bounded by the socket's
  //    SO_RCVTIMEO/SO_SNDTIMEO (the client: its call waits for the answer
  //    anyway, and a blocking recv is one syscall).
  //  kPolled: recv/send are tried without waiting first (the request is
  //    usually there when a server worker wakes), then poll() up to the read
  //    or write timeout, never past the request deadline (start_request): a
  //    peer trickling a byte per timeout can't hold a server worker forever.
  enum class Mode { kBlocking, kPolled };

  BufferedStream(int fd, Mode mode, std::string peer = "unix",
                 std::chrono::milliseconds read_timeout = {},
                 std::chrono::milliseconds write_timeout = {});

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  // Sends what write() collected; false if the peer can't take it (in time).
  bool flush();
  bool has_buffered_input() const { return buffered_ < filled_; }
  // Between requests: a blocking recv into the buffer, bounded by the
  // socket's SO_RCVTIMEO (the server sets a short one and calls this again
  // until its keep-alive time is up). One syscall where poll + recv were two.
  enum class Input { kArrived, kTimedOut, kClosed };
  Input await_input();
  // The peer as the server names it (its credentials), "unix" otherwise.
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

  // kPolled: the whole request's budget.
  void start_request(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }

 private:
  bool wait(short events, std::chrono::milliseconds timeout) const;
  ssize_t receive(int flags);

  // A large message (a long ListVms) goes out as it is produced.
  static constexpr std::size_t kFlushAt = 64 * 1024;
  int fd_;
  Mode mode_;
  std::string peer_;
  std::chrono::milliseconds read_timeout_, write_timeout_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::array<char, 16 * 1024> buffer_{};
  std::size_t buffered_ = 0;  // next unread byte
  std::size_t filled_ = 0;
  std::string out_;  // bytes not sent yet
};

}  // namespace v6g::api
