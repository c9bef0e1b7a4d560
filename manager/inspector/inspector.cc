#include "inspector/inspector.h"

#include <net/if.h>
#include <time.h>

#include <iostream>

#include "events/events.h"
#include "inspector/cpus.h"

namespace v6g::inspector {
namespace {

guard::Nanos clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<guard::Nanos>(ts.tv_sec) * guard::kSecond + ts.tv_nsec;
}

std::string ifname_of(std::uint32_t ifindex) {
  char name[IF_NAMESIZE] = {};
  return if_indextoname(ifindex, name) != nullptr ? std::string(name) : std::string();
}

}  // namespace

// --- SharedDatapath -----------------------------------------------------------

Status SharedDatapath::add_port(const datapath::PortSpec& port) {
  datapath::PortSpec spec = port;
  spec.queue = cfg_.queue_base;
  spec.queues = cfg_.queues;  // kmod: queue base + cpu % n, read by the worker on that CPU
  if (cfg_.monitor) spec.flags |= V6G_PORT_F_MONITOR;  // log-only in the kernel too
  std::lock_guard lock(mu_);
  return inner_.add_port(spec);
}
Status SharedDatapath::remove_port(std::uint32_t ifindex) {
  std::lock_guard lock(mu_);
  return inner_.remove_port(ifindex);
}
Status SharedDatapath::add_bindings(std::span<const datapath::Binding> bindings) {
  std::lock_guard lock(mu_);
  return inner_.add_bindings(bindings);
}
Status SharedDatapath::remove_bindings(std::span<const datapath::Binding> bindings) {
  std::lock_guard lock(mu_);
  return inner_.remove_bindings(bindings);
}
Status SharedDatapath::list_bindings(std::vector<datapath::Binding>& out) {
  std::lock_guard lock(mu_);
  return inner_.list_bindings(out);
}
Status SharedDatapath::counters(std::vector<datapath::PortCounters>& out) {
  std::lock_guard lock(mu_);
  return inner_.counters(out);
}
Status SharedDatapath::list_ports(std::vector<datapath::PortSpec>& out) {
  std::lock_guard lock(mu_);
  return inner_.list_ports(out);
}
Status SharedDatapath::remove_listed_port(const datapath::PortSpec& port) {
  std::lock_guard lock(mu_);
  return inner_.remove_listed_port(port);
}
Status SharedDatapath::flush() {
  std::lock_guard lock(mu_);
  return inner_.flush();
}

// --- Inspector ----------------------------------------------------------------

namespace {
InspectorConfig normalized(InspectorConfig cfg) {
  if (cfg.queues == 0) cfg.queues = 1;
  cfg.engine.data_triggered_learning = cfg.data_learning;
  return cfg;
}
}  // namespace

Inspector::Inspector(InspectorConfig cfg, datapath::Datapath& datapath)
    : cfg_(normalized(std::move(cfg))), datapath_(datapath), engine_(cfg_.engine) {
  listener_ = std::make_unique<AnswerListener>(
      [this](std::uint32_t port, const MacAddr& mac, const Ip6Addr& target) {
        on_probe_answer(port, mac, target);
      });
}

Inspector::~Inspector() { stop(); }

Status Inspector::start() {
  realtime_offset_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
  if (!cfg_.events_path.empty()) {
    events_file_ = std::fopen(cfg_.events_path.c_str(), "a");
    if (events_file_ == nullptr)
      return Status::error("cannot open events file " + cfg_.events_path);
  }
  // The engines start empty, but the fast path kept what they had learnt:
  // without those bindings a restarted daemon would drop ND from every
  // SLAAC/privacy address until the VM ran DAD again.
  std::vector<datapath::Binding> existing;
  if (Status s = datapath_.list_bindings(existing); !s)
    return Status::error("listing the datapath's bindings: " + s.message());
  for (auto& b : existing) {
    if (b.ifindex == 0) b.ifindex = if_nametoindex(b.ifname.c_str());
    if (b.ifindex != 0) restorable_[b.ifindex].push_back(b);
  }
  if (cfg_.data_learning) {
    // Without the socket verifications time out (NO_BIND): DAD still learns.
    if (Status s = probe_sender_.open(); !s)
      std::fprintf(stderr, "v6guardd: data-triggered learning without probes: %s\n",
                   s.message().c_str());
  }
  // NAs from router ports (their ND is not punted): answers to our probes
  // and routers defending their addresses against a VM's DAD claim. The
  // sockets come and go with the router ports (upsert_port).
  listener_thread_ = std::thread([this] {
    while (!listener_stop_.load(std::memory_order_relaxed))
      if (!listener_->poll_once(200)) return;
  });
  applier_ = std::thread([this] { apply_loop(); });
  const std::vector<int> allowed = cfg_.pin ? allowed_cpus() : std::vector<int>{};
  for (std::uint16_t i = 0; i < cfg_.queues; ++i) {
    WorkerConfig w;
    w.closed_queue = static_cast<std::uint16_t>(cfg_.queue_base + i);
    if (cfg_.open_queues)
      w.open_queue = static_cast<std::uint16_t>(cfg_.queue_base + cfg_.queues + i);
    w.batch_verdicts = cfg_.batch_verdicts;
    w.ticks = i == 0;
    w.cpus = cpus_for_worker(allowed, i, cfg_.queues);
    workers_.push_back(std::make_unique<QueueWorker>(w, engine_, *this));
    if (Status s = workers_.back()->start(); !s) {
      stop();
      return s;
    }
  }
  return {};
}

void Inspector::stop() {
  for (auto& w : workers_) w->stop();
  if (!workers_.empty() && !flushed_) {
    flushed_ = true;
    // Every worker has answered its last packet: report what the engine's
    // event windows still hold.
    guard::Effects fx;
    {
      std::lock_guard lock(engine_.mu);
      engine_.engine.flush_events(clock_ns(CLOCK_MONOTONIC), fx);
    }
    consume(fx);
  }
  listener_stop_ = true;
  if (listener_thread_.joinable()) listener_thread_.join();
  if (applier_.joinable()) {
    {
      std::lock_guard lock(apply_mu_);
      apply_stop_ = true;
    }
    apply_cv_.notify_all();
    applier_.join();
  }
  if (events_file_ != nullptr) {
    std::fclose(events_file_);
    events_file_ = nullptr;
  }
}

Status Inspector::upsert_port(const guard::PortPolicy& in) {
  guard::PortPolicy policy = in;
  if (cfg_.monitor) policy.monitor = true;
  guard::Effects fx;
  Status s;
  {
    std::lock_guard lock(engine_.mu);
    s = engine_.engine.upsert_port(policy, clock_ns(CLOCK_MONOTONIC), fx);
  }
  consume(fx);
  if (!s) return s;
  std::vector<datapath::Binding> restore;
  {
    std::lock_guard lock(ports_mu_);
    if (auto it = restorable_.find(policy.port); it != restorable_.end()) {
      restore = std::move(it->second);
      restorable_.erase(it);
    }
  }
  std::size_t restored = 0;
  if (!restore.empty()) {
    const guard::Nanos now = clock_ns(CLOCK_MONOTONIC);
    std::lock_guard lock(engine_.mu);
    // A refusal (prefix or cap changed while we were down) leaves the entry to
    // be learnt again; the binding stays in the fast path until the port goes.
    for (const auto& b : restore)
      if (engine_.engine.restore_binding(policy.port, b.mac, b.addr, now)) ++restored;
  }
  if (restored > 0)
    std::fprintf(stderr, "v6guardd: port %u: %zu learnt bindings restored from the fast path\n",
                 policy.port, restored);
  if (policy.role == guard::PortRole::kVm) {
    listener_->unwatch(policy.port);
  } else if (Status w = listener_->watch(policy.port); !w) {
    // Without it a VM's DAD claim of the router's address is only refused
    // when the router has sent an RA from it (or it is a configured source).
    std::fprintf(stderr, "v6guardd: port %u: the router's neighbour advertisements unseen: %s\n",
                 policy.port, w.message().c_str());
  }
  std::lock_guard lock(ports_mu_);
  ports_[policy.port] = std::move(policy);
  return {};
}

void Inspector::remove_port(guard::PortId port) {
  guard::Effects fx;
  {
    std::lock_guard lock(engine_.mu);
    engine_.engine.remove_port(port, fx);
  }
  consume(fx);
  listener_->unwatch(port);
  std::lock_guard lock(ports_mu_);
  ports_.erase(port);
}

void Inspector::report(std::vector<guard::SecurityEvent> events) {
  guard::Effects fx;
  {
    std::lock_guard lock(ports_mu_);
    for (auto& ev : events) {
      if (ev.vm_id.empty() && !ev.interface_id.empty()) {
        const auto it = ports_.find(if_nametoindex(ev.interface_id.c_str()));
        if (it != ports_.end()) {
          if (!it->second.log_security_events) continue;  // the VM opted out
          ev.vm_id = it->second.vm_id;
          ev.tenant_id = it->second.tenant_id;
        }
      }
      fx.events.push_back(std::move(ev));
    }
  }
  consume(fx);
}

std::vector<guard::BindingInfo> Inspector::bindings() {
  std::lock_guard lock(engine_.mu);
  return engine_.engine.bindings();
}

std::vector<datapath::PortCounters> Inspector::counters() {
  std::vector<guard::PortId> ports;
  {
    std::lock_guard lock(ports_mu_);
    for (const auto& [id, policy] : ports_) ports.push_back(id);
  }
  std::vector<datapath::PortCounters> out;
  for (const auto port : ports) {
    datapath::PortCounters c;
    c.ifindex = port;
    c.ifname = ifname_of(port);
    {
      std::lock_guard lock(engine_.mu);
      c.by_reason = engine_.engine.counters(port);
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::uint64_t Inspector::events(std::uint64_t after, std::size_t limit,
                                std::vector<v6guard::v1::SecurityEvent>& out) {
  std::lock_guard lock(events_mu_);
  std::uint64_t cursor = after;
  for (const auto& [seq, ev] : ring_) {
    if (seq <= after) continue;
    if (limit == 0) return cursor;  // more remain: resume after the last one given
    out.push_back(ev);
    cursor = seq;
    --limit;
  }
  return std::max(cursor, event_seq_);
}

void Inspector::consume(guard::Effects& fx) {
  if (!fx.probes.empty()) {
    // An answer matters while the verification can still be refused.
    const auto& e = cfg_.engine;
    const guard::Nanos now = clock_ns(CLOCK_MONOTONIC);
    const guard::Nanos until =
        now + e.probe_retrans * e.probe_retries + e.probe_conflict_wait + guard::kSecond;
    {
      std::lock_guard lock(recent_mu_);
      std::erase_if(recent_probes_, [&](const auto& kv) { return kv.second < now; });
      for (const auto& probe : fx.probes) recent_probes_[probe.target.bytes] = until;
    }
    for (const auto& probe : fx.probes) probe_sender_.send(probe);
    fx.probes.clear();
  }
  if (!fx.bindings.empty()) {
    {
      std::lock_guard lock(apply_mu_);
      pending_.insert(pending_.end(), fx.bindings.begin(), fx.bindings.end());
    }
    apply_cv_.notify_one();
    fx.bindings.clear();
  }
  if (!fx.events.empty()) {
    std::lock_guard lock(events_mu_);
    for (const auto& ev : fx.events) {
      ring_.emplace_back(++event_seq_, events::to_proto(ev, realtime_offset_));
      if (ring_.size() > cfg_.event_ring) ring_.pop_front();
      if (events_file_ != nullptr) {
        const std::string line = events::to_json_line(ev, realtime_offset_) + "\n";
        std::fputs(line.c_str(), events_file_);
      }
    }
    if (events_file_ != nullptr) std::fflush(events_file_);
    fx.events.clear();
  }
}

void Inspector::on_probe_answer(std::uint32_t port, const MacAddr& mac, const Ip6Addr& target) {
  const guard::Nanos now = clock_ns(CLOCK_MONOTONIC);
  bool from_vm = false;
  std::uint16_t vlan = 0;
  {
    // Only our ports; a VM port's answer must come from its own MAC (the
    // engine checks the same on the punted copy).
    std::lock_guard lock(ports_mu_);
    auto it = ports_.find(port);
    if (it == ports_.end()) return;
    const auto& p = it->second;
    from_vm = p.role == guard::PortRole::kVm;
    vlan = p.vlan;
    if (from_vm && !p.mac.is_zero() && p.mac != mac) return;
  }
  // A VM port's NAs reach the engine through the punts too: here only the
  // answers to our probes matter. A router port's ND is never punted, so
  // every NA of its is news: it may be the router defending an address a
  // VM is DAD-claiming.
  if (from_vm) {
    std::lock_guard lock(recent_mu_);
    auto it = recent_probes_.find(target.bytes);
    if (it == recent_probes_.end() || it->second < now) return;  // not an answer to us
  }
  std::lock_guard lock(engine_.mu);
  if (from_vm)
    engine_.engine.observe_na(port, mac, target, now);
  else
    engine_.engine.observe_router_na(port, vlan, mac, target, now);
}

void Inspector::apply_loop() {
  std::vector<guard::BindingChange> work;
  std::vector<datapath::Binding> run;
  for (;;) {
    {
      std::unique_lock lock(apply_mu_);
      apply_cv_.wait(lock, [&] { return apply_stop_ || !pending_.empty(); });
      if (pending_.empty() && apply_stop_) return;
      work.swap(pending_);
    }
    // Consecutive changes of one kind go in one datapath batch; order is kept
    // so an add followed by a remove of the same binding ends removed.
    for (std::size_t i = 0; i < work.size();) {
      const auto kind = work[i].kind;
      run.clear();
      for (; i < work.size() && work[i].kind == kind; ++i) {
        datapath::Binding b = work[i].binding;
        if (b.ifname.empty()) b.ifname = ifname_of(b.ifindex);
        if (b.ifname.empty()) continue;  // the port is gone
        run.push_back(std::move(b));
      }
      const Status s = kind == guard::BindingChange::Kind::kAdd ? datapath_.add_bindings(run)
                                                                : datapath_.remove_bindings(run);
      std::lock_guard lock(apply_mu_);
      if (s) {
        bindings_pushed_ += run.size();
      } else {
        ++datapath_errors_;
        std::cerr << "v6guardd: datapath bindings: " << s.message() << "\n";
      }
    }
    work.clear();
  }
}

std::string Inspector::placement() const {
  std::string out;
  bool any = false;
  for (const auto& w : workers_) {
    if (!out.empty()) out += " | ";
    const bool pinned = w->stats().pinned.load();
    any = any || pinned;
    out += pinned ? cpu_list(w->config().cpus) : std::string("-");
  }
  return any ? "workers pinned to CPUs " + out : std::string("workers not pinned");
}

std::vector<std::uint64_t> Inspector::packets_by_worker() const {
  std::vector<std::uint64_t> out;
  for (const auto& w : workers_) out.push_back(w->stats().packets.load());
  return out;
}

Inspector::Totals Inspector::totals() {
  Totals t;
  ServiceCounts service{};
  for (const auto& w : workers_) {
    const auto& s = w->stats();
    s.service.add_to(service);
    t.packets += s.packets;
    t.accepted += s.accepted;
    t.dropped += s.dropped;
    t.verdict_msgs += s.verdict_msgs;
    t.bad += s.bad_messages;
    t.send_errors += s.send_errors;
    t.netlink_errors += s.netlink_errors;
  }
  t.service = summarize(service);
  std::lock_guard lock(apply_mu_);
  t.bindings_pushed = bindings_pushed_;
  const auto& ps = probe_sender_.stats();
  t.probe_frames = ps.port_frames.load() + ps.bridge_frames.load();
  t.probe_errors = ps.errors.load();
  t.datapath_errors = datapath_errors_;
  return t;
}

}  // namespace v6g::inspector
