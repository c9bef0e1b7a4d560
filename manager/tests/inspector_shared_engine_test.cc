// CPU-local punt queues with one shared guard engine: which CPUs each worker
// is pinned to (pure), and, on real packets in a private network namespace,
// an FCFS conflict between two ports whose frames the kernel queues to
// different workers (ip6tables --queue-cpu-fanout, senders pinned to
// different CPUs): the second claimant is refused, because both workers
// decide with the one engine.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "datapath/null_datapath.h"
#include "inspector/cpus.h"
#include "inspector/inspector.h"
#include "test_frames.h"

namespace v6g::inspector {
namespace {

TEST(InspectorCpus, WorkerRunsWhereFanoutQueuesItsPunts) {
  const std::vector<int> four = {0, 1, 2, 3};
  EXPECT_EQ(cpus_for_worker(four, 0, 4), std::vector<int>{0});
  EXPECT_EQ(cpus_for_worker(four, 3, 4), std::vector<int>{3});
  // Fewer workers than CPUs: --queue-cpu-fanout sends CPU c to queue c % n.
  EXPECT_EQ(cpus_for_worker(four, 0, 2), (std::vector<int>{0, 2}));
  EXPECT_EQ(cpus_for_worker(four, 1, 2), (std::vector<int>{1, 3}));
  // One worker reads every CPU's punts: never confined.
  EXPECT_TRUE(cpus_for_worker(four, 0, 1).empty());
  // A CPU the process may not use is never asked for; a worker none of whose
  // CPUs is allowed runs unpinned.
  const std::vector<int> some = {2, 3};
  EXPECT_EQ(cpus_for_worker(some, 0, 4), std::vector<int>{});
  EXPECT_EQ(cpus_for_worker(some, 2, 4), std::vector<int>{2});
  EXPECT_EQ(cpu_list({0, 2, 5}), "0,2,5");
  // The default is one worker per allowed CPU, capped.
  const auto allowed = allowed_cpus();
  ASSERT_FALSE(allowed.empty());
  EXPECT_EQ(default_queue_count(64), std::min<unsigned>(64, unsigned(allowed.size())));
  EXPECT_EQ(default_queue_count(1), 1u);
}

bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

bool write_sysctl(const std::string& path, const char* value) {
  std::ofstream f("/proc/sys/" + path);
  f << value;
  return static_cast<bool>(f);
}

// Sends `frame` into `ifname` from a thread pinned to `cpu`: the veth peer
// receives it in that CPU's softirq, so --queue-cpu-fanout queues it to
// base + cpu % n.
bool send_from_cpu(const char* ifname, int cpu, const std::vector<std::uint8_t>& frame) {
  bool ok = false;
  std::thread t([&] {
    if (!pin_thread(pthread_self(), {cpu}).empty()) return;
    const int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) return;
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    ll.sll_halen = ETH_ALEN;
    ok = sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&ll), sizeof ll) ==
         static_cast<ssize_t>(frame.size());
    close(fd);
  });
  t.join();
  return ok;
}

std::uint64_t count_of(Inspector& insp, guard::PortId port, v6g_reason why) {
  for (const auto& c : insp.counters())
    if (c.ifindex == port)
      for (const auto& [r, n] : c.by_reason)
        if (r == static_cast<Reason>(why)) return n;
  return 0;
}

bool valid_binding(Inspector& insp, guard::PortId port, const Ip6Addr& addr) {
  for (const auto& b : insp.bindings())
    if (b.port == port && b.addr == addr && b.state == guard::BindingState::kValid) return true;
  return false;
}

template <typename F>
bool busywait(F done, int ms = 3000) {
  for (int waited = 0; waited < ms; waited += 20) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

TEST(InspectorSharedEngine, ClaimantOnAnotherCpusWorkerIsRefused) {
  const auto allowed = allowed_cpus();
  if (allowed.size() < 2 || allowed[0] != 0 || allowed[1] != 1)
    GTEST_SKIP() << "needs CPUs 0 and 1";
  if (unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "needs root (unshare CLONE_NEWNET)";
  // Two VM ports va and vb (receiving ends of veth pairs; frames are sent
  // into their peers). No addresses on any of them (addr_gen_mode none,
  // IPv6 off on the peers): only the test's frames reach the queues.
  for (const char* p : {"va", "vb"}) {
    const std::string peer = std::string(p) + "p";
    ASSERT_TRUE(sh("ip link add " + std::string(p) + " type veth peer name " + peer));
    ASSERT_TRUE(write_sysctl("net/ipv6/conf/" + peer + "/disable_ipv6", "1"));
    ASSERT_TRUE(sh("ip link set " + std::string(p) + " addrgenmode none"));
    ASSERT_TRUE(sh("ip link set " + peer + " up"));
    ASSERT_TRUE(sh("ip link set " + std::string(p) + " up"));
  }
  constexpr unsigned kBase = 40;
  for (const char* p : {"va", "vb"}) {
    if (!sh("ip6tables -w 5 -t raw -A PREROUTING -i " + std::string(p) +
            " -j NFQUEUE --queue-balance 40:41 --queue-cpu-fanout"))
      GTEST_SKIP() << "ip6tables NFQUEUE --queue-cpu-fanout unavailable";
  }
  const guard::PortId port_a = if_nametoindex("va"), port_b = if_nametoindex("vb");
  ASSERT_NE(port_a, 0u);
  ASSERT_NE(port_b, 0u);

  datapath::NullDatapath dp;
  InspectorConfig cfg;
  cfg.queue_base = kBase;
  cfg.queues = 2;
  cfg.open_queues = false;
  cfg.data_learning = false;  // DAD learns; no probe sender needed
  Inspector insp(cfg, dp);
  // Both ports may use the prefix (a shared subnet): only FCFS separates them.
  const auto prefix = *Ip6Prefix::parse("2001:db8:a::/64");
  for (const auto& [port, mac] :
       {std::pair{port_a, "02:00:00:00:00:0a"}, std::pair{port_b, "02:00:00:00:00:0b"}}) {
    guard::PortPolicy p;
    p.port = port;
    p.mac = *MacAddr::parse(mac);
    p.allocated_prefixes = {prefix};
    ASSERT_TRUE(insp.upsert_port(p).ok());
  }
  ASSERT_TRUE(insp.start().ok());
  EXPECT_EQ(insp.placement(), "workers pinned to CPUs 0 | 1");

  // A (02:..:0a) runs DAD for 2001:db8:a::5 from CPU 0: worker 0 decides it
  // and, after the DAD timeout, A holds the address.
  const auto target = *Ip6Addr::parse("2001:db8:a::5");
  ASSERT_TRUE(send_from_cpu("vap", 0, test_frames::kDadNs));
  ASSERT_TRUE(busywait([&] { return valid_binding(insp, port_a, target); }))
      << "A's DAD claim never became a binding";
  // B (02:..:0b) advertises the same address from CPU 1: worker 1 decides
  // it with the same engine, sees A's binding and drops it.
  ASSERT_TRUE(send_from_cpu("vbp", 1, test_frames::kNaParasite));
  ASSERT_TRUE(busywait([&] { return insp.totals().packets == 2; }));
  insp.stop();
  EXPECT_EQ(insp.packets_by_worker(), (std::vector<std::uint64_t>{1, 1}))
      << "each frame should be read by the worker of the CPU that queued it";
  EXPECT_EQ(count_of(insp, port_b, V6G_R_ND_TARGET_BOUND_ELSEWHERE), 1u);
  EXPECT_EQ(count_of(insp, port_a, V6G_R_ACCEPT_DAD), 1u);
  const auto t = insp.totals();
  EXPECT_EQ(t.accepted, 1u);
  EXPECT_EQ(t.dropped, 1u);
  EXPECT_TRUE(valid_binding(insp, port_a, target));
  EXPECT_FALSE(valid_binding(insp, port_b, target));
}

}  // namespace
}  // namespace v6g::inspector
