#include "inspector/verdicts.h"

namespace v6g::inspector {

void VerdictBatcher::close(Run& run, std::vector<VerdictMsg>& out) const {
  out.push_back({run.queue, run.last_id, run.verdict, run.count > 1});
}

void VerdictBatcher::add(std::uint16_t queue, std::uint32_t id, std::uint32_t verdict) {
  ++pending_;
  if (!batching_) {
    closed_.push_back({queue, id, verdict, false});
    return;
  }
  for (auto& run : runs_) {
    if (run.queue != queue) continue;
    if (run.verdict == verdict && id > run.last_id) {
      run.last_id = id;
      ++run.count;
      return;
    }
    close(run, closed_);
    run = {queue, id, verdict, 1};
    return;
  }
  runs_.push_back({queue, id, verdict, 1});
}

void VerdictBatcher::flush(std::vector<VerdictMsg>& out) {
  out.insert(out.end(), closed_.begin(), closed_.end());
  closed_.clear();
  for (auto& run : runs_) close(run, out);
  runs_.clear();
  pending_ = 0;
}

}  // namespace v6g::inspector
