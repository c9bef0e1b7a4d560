// Value-or-reason return type for the packet path (no exceptions, no
// allocation). Kept tiny on purpose: std::expected is C++23 and clang 14
// (our fuzzing compiler) doesn't ship it.
#pragma once

#include <utility>

#include "reason.h"

namespace v6g {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)), reason_(reason(V6G_R_NONE)) {}  // NOLINT
  static Result fail(Reason why) { return Result(why); }
  static Result fail(v6g_reason why) { return Result(reason(why)); }

  bool ok() const { return raw(reason_) == V6G_R_NONE; }
  explicit operator bool() const { return ok(); }
  Reason error() const { return reason_; }

  const T& value() const& { return value_; }
  T& value() & { return value_; }
  T&& value() && { return std::move(value_); }
  const T* operator->() const { return &value_; }
  T* operator->() { return &value_; }
  const T& operator*() const& { return value_; }

 private:
  explicit Result(Reason why) : value_{}, reason_(why) {}
  T value_;
  Reason reason_;
};

}  // namespace v6g
