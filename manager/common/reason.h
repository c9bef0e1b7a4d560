// The verdict-reason enum shared with the kernel module (kmod/uapi/v6guard.h),
// wrapped for C++: a scoped alias, stable snake_case names for counters/events,
// and the accept/drop split.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

extern "C" {
#include "v6guard.h"
}

namespace v6g {

enum class Reason : std::uint16_t {};

constexpr Reason reason(v6g_reason r) { return static_cast<Reason>(r); }
constexpr v6g_reason raw(Reason r) { return static_cast<v6g_reason>(r); }
constexpr bool operator==(Reason a, v6g_reason b) { return raw(a) == b; }
constexpr bool is_drop(Reason r) { return static_cast<unsigned>(r) >= V6G_R_FIRST_DROP; }

// Stable lower_snake names ("ra_from_vm_port"); empty view for unassigned values.
std::string_view reason_name(Reason r);
std::optional<Reason> reason_from_name(std::string_view name);

// Every assigned reason, in numeric order (for counter tables and docs).
const Reason* all_reasons_begin();
const Reason* all_reasons_end();

}  // namespace v6g
