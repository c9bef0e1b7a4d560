#include "host/plan.h"

namespace v6g::host {

namespace {

using Undo = std::function<Status()>;

struct Step {
  std::string name;
  // Does the work; sets *changed, and pushes an undo when it changed something.
  std::function<Status(bool* changed, std::vector<std::pair<std::string, Undo>>* undo)> run;
};

bool owned(const LinkInfo& link) { return link.alias == kOwnerMarker; }

Status need_link(Rtnl& nl, const std::string& name, LinkInfo* out) {
  auto link = nl.find_link(name);
  if (!link) return Status::error("interface " + name + " vanished");
  *out = *link;
  return Status();
}

}  // namespace

std::optional<HostPlan> HostPlan::build(const PortSpec& spec, const KernelCaps& caps,
                                        std::string* error) {
  auto fail = [error](std::string why) -> std::optional<HostPlan> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  if (!valid_ifname(spec.bridge)) return fail("invalid bridge name '" + spec.bridge + "'");
  if (!valid_ifname(spec.port)) return fail("invalid port name '" + spec.port + "'");
  if (spec.bridge == spec.port) return fail("bridge and port have the same name");
  if (spec.vlan > 4094) return fail("vlan id out of range: " + std::to_string(spec.vlan));
  HostPlan plan;
  plan.spec_ = spec;
  if (plan.spec_.firewall) {
    plan.spec_.firewall->port = spec.port;
    if (auto st = validate(*plan.spec_.firewall); !st.ok()) return fail(st.message());
  }
  plan.mode_ = spec.vlan_mode;
  if (plan.mode_ == VlanMode::kAuto)
    plan.mode_ = caps.bridge_vlan_filtering ? VlanMode::kFiltering : VlanMode::kBridgePerVlan;
  if (plan.mode_ == VlanMode::kFiltering && !caps.bridge_vlan_filtering)
    return fail("kernel lacks bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)");
  plan.bridge_ = spec.bridge;
  if (plan.mode_ == VlanMode::kBridgePerVlan && spec.vlan != 0) {
    plan.bridge_ = spec.bridge + "v" + std::to_string(spec.vlan);
    if (!valid_ifname(plan.bridge_))
      return fail("per-VLAN bridge name too long: '" + plan.bridge_ + "'");
  }
  if (!spec.uplink.empty()) {
    if (!valid_ifname(spec.uplink)) return fail("invalid uplink name '" + spec.uplink + "'");
    if (spec.uplink == spec.port || spec.uplink == spec.bridge)
      return fail("uplink must differ from port and bridge");
    plan.uplink_member_ = spec.uplink;
    if (plan.mode_ == VlanMode::kBridgePerVlan && spec.vlan != 0) {
      if (!caps.vlan_8021q)
        return fail("tagged uplink in bridge-per-vlan mode needs 802.1Q (CONFIG_VLAN_8021Q)");
      plan.uplink_member_ = spec.uplink + "." + std::to_string(spec.vlan);
      if (!valid_ifname(plan.uplink_member_))
        return fail("uplink subinterface name too long: '" + plan.uplink_member_ + "'");
    }
  }
  return plan;
}

void Rollback::append(Rollback&& other) {
  for (auto& entry : other.undo_) undo_.push_back(std::move(entry));
  other.undo_.clear();
}

Status Rollback::run() {
  std::string failures;
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    if (auto st = it->second(); !st.ok())
      failures += (failures.empty() ? "" : "; ") + it->first + ": " + st.message();
  }
  undo_.clear();
  return failures.empty() ? Status() : Status::error("rollback failed: " + failures);
}

Status HostPlan::apply(Rtnl& nl, Nft& nft, std::vector<StepReport>* report,
                       Rollback* rollback) const {
  if (auto st = nl.open_status(); !st.ok()) return st;
  const PortSpec& s = spec_;
  const bool filtering = mode_ == VlanMode::kFiltering;
  LinkInfo br;
  LinkInfo port;
  std::vector<Step> steps;

  steps.push_back(
      {"ensure bridge " + bridge_, [&](bool* changed, auto* undo) {
         BridgeOptions opts;
         opts.vlan_filtering = filtering;
         opts.mld_snooping = s.mld_snooping;
         opts.mcast_querier = s.mcast_querier;
         if (auto existing = nl.find_link(bridge_)) {
           if (existing->kind != "bridge")
             return Status::error(bridge_ + " exists and is not a bridge");
           br = *existing;
           // Converge options (snooping/querier/filtering) on adopted bridges
           // too: they are per-bridge settings the API owns. Only write what
           // differs, so re-applying really changes nothing.
           const auto& now = br.bridge;
           if (s.mld_snooping_only_enable && now && now->mld_snooping) opts.mld_snooping = true;
           if (now && now->mld_snooping == opts.mld_snooping &&
               now->mcast_querier == opts.mcast_querier && (!filtering || now->vlan_filtering))
             return Status();
           *changed = true;
           if (auto st = nl.set_bridge_options(br.ifindex, opts); !st.ok()) return st;
           if (now) {
             // Snooping and querier go back; VLAN filtering, once on, stays
             // (the netlink attribute is only ever sent to turn it on).
             undo->push_back({"restore bridge options", [&nl, idx = br.ifindex, old = *now] {
                                return nl.set_bridge_options(idx, old);
                              }});
           }
           return Status();
         }
         if (auto st = nl.create_bridge(bridge_, opts); !st.ok()) return st;
         if (auto st = need_link(nl, bridge_, &br); !st.ok()) return st;
         *changed = true;
         undo->push_back(
             {"delete bridge", [&nl, idx = br.ifindex] { return nl.delete_link(idx); }});
         return nl.set_alias(br.ifindex, kOwnerMarker);
       }});
  steps.push_back({"bridge up", [&](bool* changed, auto*) {
                     *changed = !br.up;
                     return br.up ? Status() : nl.set_up(br.ifindex, true);
                   }});
  if (!uplink_member_.empty()) {
    steps.push_back(
        {"uplink " + uplink_member_, [&](bool* changed, auto* undo) {
           auto up = nl.find_link(s.uplink);
           if (!up) return Status::error("uplink " + s.uplink + " does not exist");
           LinkInfo member = *up;
           if (uplink_member_ != s.uplink) {  // owned 802.1Q subinterface
             if (auto sub = nl.find_link(uplink_member_)) {
               if (sub->kind != "vlan")
                 return Status::error("name " + uplink_member_ + " is taken by a " + sub->kind);
               member = *sub;
             } else {
               if (auto st = nl.create_vlan_subif(uplink_member_, up->ifindex, s.vlan); !st.ok())
                 return st;
               if (auto st = need_link(nl, uplink_member_, &member); !st.ok()) return st;
               *changed = true;
               undo->push_back({"delete uplink subinterface",
                                [&nl, idx = member.ifindex] { return nl.delete_link(idx); }});
               if (auto st = nl.set_alias(member.ifindex, kOwnerMarker); !st.ok()) return st;
             }
           }
           if (member.master != br.ifindex) {
             if (member.master != 0)
               return Status::error(member.name + " is enslaved to another master");
             if (auto st = nl.set_master(member.ifindex, br.ifindex); !st.ok()) return st;
             *changed = true;
             undo->push_back(
                 {"release uplink", [&nl, idx = member.ifindex] { return nl.set_master(idx, 0); }});
           }
           if (filtering && s.vlan != 0) {
             bool tagged = false;
             for (const auto& v : nl.port_vlans(member.ifindex))
               tagged = tagged || (v.vid == s.vlan && !v.untagged && !v.pvid);
             if (!tagged) {
               if (auto st = nl.vlan_add(member.ifindex, s.vlan, false, false); !st.ok()) return st;
               *changed = true;
               undo->push_back({"remove uplink vlan", [&nl, idx = member.ifindex, vid = s.vlan] {
                                  return nl.vlan_del(idx, vid);
                                }});
             }
           }
           // A VLAN device can't open while its parent is down (-ENETDOWN); the
           // 8021q code brings it up with the parent later.
           if (!member.up && uplink_member_ != s.uplink && up->up) {
             *changed = true;
             return nl.set_up(member.ifindex, true);
           }
           return Status();
         }});
  }
  steps.push_back(
      {"ensure port " + s.port, [&](bool* changed, auto* undo) {
         if (auto existing = nl.find_link(s.port)) {
           // A tap the VMM (or an earlier apply) made is fine to reuse; asked to
           // create a tap, anything else under that name is a conflict, not
           // something to enslave.
           if (s.create_tap && !owned(*existing) && existing->kind != "tun")
             return Status::error(
                 "name " + s.port + " is taken by a " +
                 (existing->kind.empty() ? std::string("device") : existing->kind));
           port = *existing;  // ours from an earlier apply, or adopted
           return Status();
         }
         if (!s.create_tap) return Status::error("interface " + s.port + " does not exist");
         TapOptions tap = s.tap;
         tap.alias = kOwnerMarker;  // marked before it persists (kill -9 safe)
         if (auto st = create_persistent_tap(s.port, tap); !st.ok()) return st;
         if (auto st = need_link(nl, s.port, &port); !st.ok()) return st;
         *changed = true;
         undo->push_back({"delete tap", [&nl, idx = port.ifindex] { return nl.delete_link(idx); }});
         return nl.set_alias(port.ifindex, kOwnerMarker);
       }});
  steps.push_back({"enslave to " + bridge_, [&](bool* changed, auto* undo) {
                     if (port.master == br.ifindex) return Status();
                     if (port.master != 0)
                       return Status::error(s.port + " is enslaved to another master");
                     if (auto st = nl.set_master(port.ifindex, br.ifindex); !st.ok()) return st;
                     *changed = true;
                     undo->push_back({"release port",
                                      [&nl, idx = port.ifindex] { return nl.set_master(idx, 0); }});
                     return Status();
                   }});
  if (filtering && s.vlan != 0) {
    steps.push_back(
        {"vlan " + std::to_string(s.vlan) + " pvid untagged", [&](bool* changed, auto* undo) {
           bool has_ours = false;
           bool has_default = false;
           for (const auto& v : nl.port_vlans(port.ifindex)) {
             if (v.vid == s.vlan && v.pvid && v.untagged) has_ours = true;
             if (v.vid == 1 && s.vlan != 1) has_default = true;
           }
           if (has_ours && !has_default) return Status();
           *changed = true;
           if (auto st = nl.vlan_add(port.ifindex, s.vlan, true, true); !st.ok()) return st;
           // Tenant ports carry exactly one VLAN: drop the default VLAN 1.
           if (has_default) {
             if (auto st = nl.vlan_del(port.ifindex, 1); !st.ok()) return st;
           }
           undo->push_back({"restore default vlan", [&nl, idx = port.ifindex, vid = s.vlan] {
                              if (auto st = nl.vlan_del(idx, vid); !st.ok()) return st;
                              return nl.vlan_add(idx, 1, true, true);
                            }});
           return Status();
         }});
  }
  steps.push_back({"port flags", [&](bool* changed, auto* undo) {
                     PortFlags flags;
                     flags.isolated = s.isolated;
                     flags.learning = s.learning;
                     flags.unicast_flood = s.unicast_flood;
                     auto now = nl.port_flags(port.ifindex);
                     if (now && now->isolated == flags.isolated &&
                         now->learning == flags.learning &&
                         now->unicast_flood == flags.unicast_flood)
                       return Status();
                     if (auto st = nl.set_port_flags(port.ifindex, flags); !st.ok()) return st;
                     *changed = true;
                     undo->push_back({"reset port flags", [&nl, idx = port.ifindex] {
                                        return nl.set_port_flags(idx, PortFlags{});
                                      }});
                     return Status();
                   }});
  steps.push_back({"port up", [&](bool* changed, auto*) {
                     if (auto st = need_link(nl, s.port, &port); !st.ok()) return st;
                     *changed = !port.up;
                     return port.up ? Status() : nl.set_up(port.ifindex, true);
                   }});
  if (s.firewall) {
    steps.push_back(
        {"firewall", [&](bool* changed, auto* undo) {
           const bool existed = nft.has_port(s.port);
           if (auto st = nft.apply(*s.firewall, changed); !st.ok()) return st;
           if (!existed)
             undo->push_back({"remove firewall", [&nft, p = s.port] { return nft.remove(p); }});
           return Status();
         }});
  }

  std::vector<std::pair<std::string, Undo>> undo;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    bool changed = false;
    Status st = static_cast<int>(i) == fail_at_ ? Status::error("injected failure")
                                                : steps[i].run(&changed, &undo);
    if (report != nullptr) report->push_back({steps[i].name, changed});
    if (!st.ok()) {
      std::string why = steps[i].name + ": " + st.message();
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
        if (auto ust = it->second(); !ust.ok())
          why += "; rollback " + it->first + " failed: " + ust.message();
      }
      return Status::error(why);
    }
  }
  if (rollback != nullptr)
    for (auto& [name, fn] : undo) rollback->add(s.port + ": " + name, std::move(fn));
  return Status();
}

Status HostPlan::remove(Rtnl& nl, Nft& nft, std::vector<StepReport>* report) const {
  if (auto st = nl.open_status(); !st.ok()) return st;
  auto note = [report](std::string name, bool changed) {
    if (report != nullptr) report->push_back({std::move(name), changed});
  };
  const bool had_fw = nft.has_port(spec_.port);
  if (auto st = nft.remove(spec_.port); !st.ok()) return st;
  note("remove firewall", had_fw);

  auto br = nl.find_link(bridge_);
  if (auto port = nl.find_link(spec_.port)) {
    if (owned(*port)) {
      if (auto st = nl.delete_link(port->ifindex); !st.ok()) return st;
      note("delete tap " + spec_.port, true);
    } else if (br && port->master == br->ifindex) {
      // Adopted: undo what apply did to it, leave the interface.
      if (mode_ == VlanMode::kFiltering && spec_.vlan != 0) {
        if (auto st = nl.vlan_del(port->ifindex, spec_.vlan); !st.ok()) return st;
      }
      if (auto st = nl.set_port_flags(port->ifindex, PortFlags{}); !st.ok()) return st;
      if (auto st = nl.set_master(port->ifindex, 0); !st.ok()) return st;
      note("release adopted " + spec_.port, true);
    }
  }
  if (!br) return Status();
  // The uplink member is shared by the bridge's ports: it leaves (and its
  // VLAN goes) only with the last VM port that needed it.
  std::vector<LinkInfo> others;
  for (auto& p : nl.bridge_ports(br->ifindex))
    if (p.name != uplink_member_) others.push_back(std::move(p));
  auto member = uplink_member_.empty() ? std::nullopt : nl.find_link(uplink_member_);
  if (member && member->master == br->ifindex && mode_ == VlanMode::kFiltering && spec_.vlan != 0) {
    bool vlan_in_use = false;
    for (const auto& p : others)
      for (const auto& v : nl.port_vlans(p.ifindex))
        vlan_in_use = vlan_in_use || v.vid == spec_.vlan;
    if (!vlan_in_use) {
      if (auto st = nl.vlan_del(member->ifindex, spec_.vlan); !st.ok()) return st;
      note("remove uplink vlan " + std::to_string(spec_.vlan), true);
    }
  }
  if (owned(*br) && others.empty()) {
    if (member && member->master == br->ifindex) {
      Status st =
          owned(*member) ? nl.delete_link(member->ifindex) : nl.set_master(member->ifindex, 0);
      if (!st.ok()) return st;
      note((owned(*member) ? "delete uplink " : "release uplink ") + uplink_member_, true);
    }
    if (auto st = nl.delete_link(br->ifindex); !st.ok()) return st;
    note("delete bridge " + bridge_, true);
  }
  return Status();
}

Status apply_all(const std::vector<HostPlan>& plans, Rtnl& nl, Nft& nft) {
  for (std::size_t i = 0; i < plans.size(); ++i) {
    Status st = plans[i].apply(nl, nft);
    if (st.ok()) continue;
    std::string why = plans[i].spec().port + ": " + st.message();
    for (std::size_t j = i; j-- > 0;) {
      if (auto rst = plans[j].remove(nl, nft); !rst.ok())
        why += "; rollback " + plans[j].spec().port + " failed: " + rst.message();
    }
    return Status::error(why);
  }
  return Status();
}

Status remove_all(const std::vector<HostPlan>& plans, Rtnl& nl, Nft& nft) {
  Status first;
  for (auto it = plans.rbegin(); it != plans.rend(); ++it) {
    Status st = it->remove(nl, nft);
    if (!st.ok() && first.ok()) first = st;  // keep going: remove as much as we can
  }
  return first;
}

}  // namespace v6g::host
