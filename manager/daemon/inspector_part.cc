// Placeholder until the nfqueue inspector lands: the daemon runs without a
// GuardHub (datapath-only, stateless drops).
#include "daemon/part.h"

namespace v6g::daemon {
namespace {

class NoInspector final : public Part {
 public:
  void add_options(boost::program_options::options_description&) override {}
  Status start(const boost::program_options::variables_map&, DaemonContext& ctx) override {
    ctx.status.emplace_back("inspector", "not built");
    return {};
  }
  void stop() override {}
};

}  // namespace

std::unique_ptr<Part> make_inspector_part() { return std::make_unique<NoInspector>(); }

}  // namespace v6g::daemon
