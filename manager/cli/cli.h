// v6guardctl's logic as a library, so tests can run it in-process against a
// real server. It speaks the Connect JSON codec and renders responses
// generically (tables from repeated fields), so it needs no generated code and
// keeps working when the daemon's messages gain fields.
#pragma once

#include <ostream>

namespace v6g::cli {

// Exit codes: 0 ok, 1 the API returned an error, 2 usage, 3 daemon unreachable.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace v6g::cli
