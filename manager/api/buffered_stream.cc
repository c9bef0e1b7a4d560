#include "api/buffered_stream.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace v6g::api {

BufferedStream::BufferedStream(int fd, Mode mode, std::string peer,
                               std::chrono::milliseconds read_timeout,
                               std::chrono::milliseconds write_timeout)
    : fd_(fd),
      mode_(mode),
      peer_(std::move(peer)),
      read_timeout_(read_timeout),
      write_timeout_(write_timeout) {}

bool BufferedStream::is_readable() const {
  if (buffered_ < filled_) return true;
  if (mode_ == Mode::kPolled) return wait(POLLIN, read_timeout_);
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

bool BufferedStream::is_writable() const {
  return mode_ == Mode::kBlocking || std::chrono::steady_clock::now() < deadline_;
}

ssize_t BufferedStream::read(char* ptr, size_t size) {
  if (buffered_ == filled_) {
    if (!flush()) return -1;
    ssize_t n;
    if (mode_ == Mode::kBlocking) {
      n = receive(0);  // SO_RCVTIMEO bounds it
    } else {
      n = receive(MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLIN, read_timeout_)) return -1;
        n = receive(0);
      }
    }
    if (n <= 0) return n;  // timeout (EAGAIN), error or closed
    buffered_ = 0;
    filled_ = static_cast<std::size_t>(n);
  }
  const std::size_t take = std::min(size, filled_ - buffered_);
  std::memcpy(ptr, buffer_.data() + buffered_, take);
  buffered_ += take;
  return static_cast<ssize_t>(take);
}

ssize_t BufferedStream::write(const char* ptr, size_t size) {
  if (!is_writable()) return -1;
  out_.append(ptr, size);
  if (out_.size() >= kFlushAt && !flush()) return -1;
  return static_cast<ssize_t>(size);
}

bool BufferedStream::flush() {
  const int flags = MSG_NOSIGNAL | (mode_ == Mode::kPolled ? MSG_DONTWAIT : 0);
  std::size_t sent = 0;
  while (sent < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + sent, out_.size() - sent, flags);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && mode_ == Mode::kPolled && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait(POLLOUT, write_timeout_)) break;
      continue;
    }
    if (n <= 0) break;  // kBlocking: SO_SNDTIMEO expired, or an error
    sent += static_cast<std::size_t>(n);
  }
  const bool ok = sent == out_.size();
  out_.clear();
  return ok;
}

BufferedStream::Input BufferedStream::await_input() {
  if (has_buffered_input()) return Input::kArrived;
  const ssize_t n = receive(0);
  if (n > 0) {
    buffered_ = 0;
    filled_ = static_cast<std::size_t>(n);
    return Input::kArrived;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Input::kTimedOut;
  return Input::kClosed;
}

void BufferedStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = peer_;
  port = 0;
}

void BufferedStream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = "unix";
  port = 0;
}

bool BufferedStream::wait(short events, std::chrono::milliseconds timeout) const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline_ - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_, events, 0};
  int rc;
  do rc = ::poll(&p, 1, static_cast<int>(std::min(timeout, left).count()));
  while (rc < 0 && errno == EINTR);
  return rc > 0 && (p.revents & (events | POLLHUP)) != 0;
}

ssize_t BufferedStream::receive(int flags) {
  ssize_t n;
  do n = ::recv(fd_, buffer_.data(), buffer_.size(), flags);
  while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace v6g::api
