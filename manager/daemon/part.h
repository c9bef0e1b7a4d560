// v6guardd is composed of parts that each own one concern and meet only
// through DaemonContext: the datapath (chosen in main.cc), the inspector
// (nfqueue + guard engines, inspector_part.cc) and the control plane (store,
// API server, VM programming, control_part.cc). main.cc collects every part's
// options, starts the parts in order, waits for a signal and stops them in
// reverse order.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "datapath/datapath.h"
#include "guard/engine.h"
#include "v6guard/v1/events.pb.h"

namespace v6g::daemon {

// What the inspector offers the rest of the daemon. Thread-safe: the control
// plane calls it from API threads while queue threads decide packets.
class GuardHub {
 public:
  virtual ~GuardHub() = default;
  // Installs or replaces a port's policy in every engine that sees the port.
  virtual Status upsert_port(const guard::PortPolicy& policy) = 0;
  virtual void remove_port(guard::PortId port) = 0;
  // Live state for status calls.
  virtual std::vector<guard::BindingInfo> bindings() = 0;
  virtual std::vector<datapath::PortCounters> counters() = 0;
  // Security events with sequence number > after, oldest first, at most
  // `limit`; returns the newest sequence number (the caller's next cursor).
  virtual std::uint64_t events(std::uint64_t after, std::size_t limit,
                               std::vector<v6guard::v1::SecurityEvent>& out) = 0;
  // Events found outside the engines (port firewall denials from NFLOG) join
  // the same ring and JSON lines; vm/tenant are filled from the port's policy
  // when the event names its interface only.
  virtual void report(std::vector<guard::SecurityEvent> events) = 0;
};

struct DaemonContext {
  datapath::Datapath* datapath = nullptr;
  std::string datapath_reason;  // why this datapath: "module v6guard loaded", ...
  GuardHub* guard = nullptr;    // null when the inspector is disabled
  // key/value lines for `v6guardctl status`; parts append during start().
  std::vector<std::pair<std::string, std::string>> status;
  // key/value lines computed at each status call (live figures).
  std::vector<std::function<std::pair<std::string, std::string>()>> live_status;
};

class Part {
 public:
  virtual ~Part() = default;
  virtual void add_options(boost::program_options::options_description& opts) = 0;
  // Called in order (inspector before control plane); a failure aborts start-up
  // and main.cc stops the parts already started.
  virtual Status start(const boost::program_options::variables_map& vm, DaemonContext& ctx) = 0;
  virtual void stop() = 0;
};

std::unique_ptr<Part> make_inspector_part();
std::unique_ptr<Part> make_control_part();

}  // namespace v6g::daemon
