// Error-with-message for control-plane calls (datapath programming, store,
// host setup). The packet path uses Result<T> with a Reason instead.
#pragma once

#include <string>
#include <utility>

namespace v6g {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status error(std::string message) { return Status(std::move(message)); }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

}  // namespace v6g
