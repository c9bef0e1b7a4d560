#include "inspector/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace v6g::inspector {

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  return out;
}

unsigned default_queue_count(unsigned max) {
  const auto n = static_cast<unsigned>(allowed_cpus().size());
  return std::clamp(n, 1u, std::max(max, 1u));
}

std::vector<int> cpus_for_worker(const std::vector<int>& allowed, unsigned worker,
                                 unsigned workers) {
  std::vector<int> out;
  if (workers <= 1) return out;  // the only reader: it must not be confined
  for (const int cpu : allowed)
    if (cpu >= 0 && static_cast<unsigned>(cpu) % workers == worker) out.push_back(cpu);
  return out;
}

std::string pin_thread(pthread_t thread, const std::vector<int>& cpus) {
  if (cpus.empty()) return {};
  cpu_set_t set;
  CPU_ZERO(&set);
  for (const int cpu : cpus)
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
  if (const int err = pthread_setaffinity_np(thread, sizeof set, &set); err != 0)
    return std::strerror(err);
  return {};
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (const int cpu : cpus) {
    if (!out.empty()) out += ',';
    out += std::to_string(cpu);
  }
  return out;
}

}  // namespace v6g::inspector
