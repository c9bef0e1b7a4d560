// SecurityEvent (guard engine) -> v6guard.v1.SecurityEvent proto and JSON
// lines for the event log / API. Engine timestamps are monotonic; the caller
// passes the offset to wall-clock time (realtime - monotonic at start-up).
#pragma once

#include <string>

#include "guard/engine.h"
#include "v6guard/v1/events.pb.h"

namespace v6g::events {

v6guard::v1::SecurityEvent to_proto(const guard::SecurityEvent& ev,
                                    guard::Nanos realtime_offset = 0);

// One line of JSON (no trailing newline), proto field names as in the seed
// (snake_case), e.g. {"timestamp":"2026-11-23T00:41:00Z","event_type":...}.
std::string to_json_line(const guard::SecurityEvent& ev, guard::Nanos realtime_offset = 0);

}  // namespace v6g::events
