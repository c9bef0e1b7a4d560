// CPU-local punt queues: the kernel picks a punt's queue by the CPU that
// handles the frame (xt NFQUEUE --queue-cpu-fanout: base + cpu % n), and
// queue worker i runs on the CPUs that fan out to its queue. A punt is then
// read on the CPU that queued it: no cross-CPU wake-up of a sleeping reader
// (on a VM host's vCPU that wake-up alone costs ~80-90 us, docs/inspector.md).
#pragma once

#include <pthread.h>

#include <string>
#include <vector>

namespace v6g::inspector {

// The CPUs this process may run on (sched_getaffinity), ascending; empty if
// the call fails.
std::vector<int> allowed_cpus();

// How many queue workers to run by default: one per allowed CPU, 1..max.
unsigned default_queue_count(unsigned max = 64);

// The CPUs worker `worker` of `workers` should run on: the allowed ones that
// --queue-cpu-fanout sends to its queue (cpu % workers == worker). Empty
// means "do not pin": one worker (it reads every CPU's punts), or no allowed
// CPU fans out to this worker's queue.
std::vector<int> cpus_for_worker(const std::vector<int>& allowed, unsigned worker,
                                 unsigned workers);

// Pins a thread to `cpus` (nothing to do when empty). Returns an error
// text, empty on success.
std::string pin_thread(pthread_t thread, const std::vector<int>& cpus);

// "0,1,4" for status lines.
std::string cpu_list(const std::vector<int>& cpus);

}  // namespace v6g::inspector
