// v6guardctl's logic as a library, so tests can run it in-process against a
// real server. The guard commands (ports, bindings, counters, events, status)
// call v6guard.v1.GuardService with the typed messages in the binary codec and
// print tables, or the protobuf JSON mapping with --json. The vm commands
// speak the JSON codec and render VmService responses generically.
#pragma once

#include <ostream>

namespace v6g::cli {

// Exit codes: 0 ok, 1 the API returned an error, 2 usage, 3 daemon unreachable.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace v6g::cli
