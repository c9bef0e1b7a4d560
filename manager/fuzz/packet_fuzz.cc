// libFuzzer target for the packet parser: any bytes, as an Ethernet frame and
// as a bare IPv6 packet. ASan/UBSan catch out-of-range reads; the asserts
// catch results that contradict themselves.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "packet/packet.h"

namespace {

void check(const v6g::Result<v6g::packet::ParsedPacket>& r, std::size_t size) {
  if (!r.ok()) {
    if (!v6g::is_drop(r.error())) std::abort();  // rejections are always drop reasons
    return;
  }
  const auto& p = r.value();
  if (p.upper.offset > size || p.upper.length > size - p.upper.offset) std::abort();
  if (p.ext.count > v6g::packet::kMaxExtHeaders) std::abort();
  if (p.ext.bytes > v6g::packet::kMaxExtHeaderBytes) std::abort();
  (void)v6g::packet::packet_class_name(p.klass);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  check(v6g::packet::parse_frame(bytes), size);
  check(v6g::packet::parse_ipv6(bytes), size);
  return 0;
}
