// Placeholder until the control plane (store + API server) lands.
#include "daemon/part.h"

namespace v6g::daemon {
namespace {

class NoControlPlane final : public Part {
 public:
  void add_options(boost::program_options::options_description&) override {}
  Status start(const boost::program_options::variables_map&, DaemonContext& ctx) override {
    ctx.status.emplace_back("api", "not built");
    return {};
  }
  void stop() override {}
};

}  // namespace

std::unique_ptr<Part> make_control_part() { return std::make_unique<NoControlPlane>(); }

}  // namespace v6g::daemon
