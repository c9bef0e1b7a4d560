#include "events/events.h"

#include <google/protobuf/util/json_util.h>

namespace v6g::events {

v6guard::v1::SecurityEvent to_proto(const guard::SecurityEvent& ev, guard::Nanos realtime_offset) {
  v6guard::v1::SecurityEvent out;
  const guard::Nanos t = ev.first_seen + realtime_offset;
  out.mutable_timestamp()->set_seconds(t / guard::kSecond);
  out.mutable_timestamp()->set_nanos(static_cast<std::int32_t>(t % guard::kSecond));
  out.set_event_type(ev.event_type);
  out.set_severity(ev.severity);
  out.set_vm_id(ev.vm_id);
  out.set_tenant_id(ev.tenant_id);
  out.set_interface_id(ev.interface_id);
  out.set_violation_type(std::string(reason_name(ev.violation)));
  out.set_monitor(ev.monitor);
  auto* d = out.mutable_details();
  // An all-zero source means "folded / unknown" (spoofed-source floods).
  if (!ev.blocked_source.is_unspecified()) d->set_blocked_source(ev.blocked_source.to_string());
  if (!ev.blocked_mac.is_zero()) d->set_blocked_mac(ev.blocked_mac.to_string());
  for (const auto& s : ev.expected_sources) d->add_expected_sources(s);
  d->set_packet_count(ev.packet_count);
  d->set_duration_seconds(static_cast<double>(ev.last_seen - ev.first_seen) /
                          static_cast<double>(guard::kSecond));
  return out;
}

std::string to_json_line(const guard::SecurityEvent& ev, guard::Nanos realtime_offset) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.add_whitespace = false;
  std::string json;
  // Cannot fail for a message we just built (no Any, no unknown enums).
  (void)google::protobuf::util::MessageToJsonString(to_proto(ev, realtime_offset), &json, opts);
  return json;
}

}  // namespace v6g::events
