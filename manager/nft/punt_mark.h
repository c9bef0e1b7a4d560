// The skb mark a punted frame carries from nft bridge prerouting to the
// inspector on the nft datapath (header-only: the inspector decodes it
// without linking the nft component).
//
//   bits 31..16  kPuntTag (0x7667): "punted by v6guard"; host marks must not
//                use the top 16 bits
//   bits 15..4   the frame's VLAN id (its out-of-band 802.1Q/802.1ad tag)
//   bit      3   the frame was tagged (so VLAN id 0, a priority tag, is
//                told from untagged, as NFQA_VLAN tells it)
//   bits  2..0   the class: 1 fail-closed, 2 fail-open
//
// Why the mark carries the VLAN: punts reach the inspector through
// br_netfilter as ip6-family NFQUEUE packets, which have no NFQA_VLAN (and no
// NFQA_PRIORITY: `meta priority` was tried). nft 1.0.6 cannot OR a register
// into a mark, so the bridge table looks the new mark up in a static map
// `meta mark . vlan id : mark` holding every (class, VLAN) pair (ruleset.h).
#pragma once

#include <cstdint>

namespace v6g::nft {

inline constexpr std::uint32_t kPuntTag = 0x76670000;
inline constexpr std::uint32_t kPuntTagMask = 0xffff0000;
inline constexpr std::uint32_t kPuntClassMask = 0x00000007;
inline constexpr std::uint32_t kPuntTaggedBit = 0x00000008;
inline constexpr unsigned kPuntVlanShift = 4;
inline constexpr std::uint32_t kPuntVlanMask = 0x0000fff0;
inline constexpr std::uint32_t kPuntClosedMark = kPuntTag | 1;
inline constexpr std::uint32_t kPuntOpenMark = kPuntTag | 2;
// ip6tables matches a class whatever the VLAN: --mark <class mark>/kPuntMatchMask.
inline constexpr std::uint32_t kPuntMatchMask = kPuntTagMask | kPuntClassMask;

// The mark of a punt of class `class_mark` (kPuntClosedMark/kPuntOpenMark)
// for a frame tagged with VLAN id `vlan` (0..4095). An untagged frame's mark
// is the class mark itself.
constexpr std::uint32_t punt_mark(std::uint32_t class_mark, std::uint16_t vlan) {
  return (class_mark & kPuntMatchMask) | kPuntTaggedBit |
         (std::uint32_t{vlan} << kPuntVlanShift & kPuntVlanMask);
}

constexpr bool is_punt_mark(std::uint32_t mark) { return (mark & kPuntTagMask) == kPuntTag; }

// Did the punted frame carry a VLAN tag? False for a mark that is not a punt
// mark (a host's own mark says nothing about the VLAN).
constexpr bool punt_mark_tagged(std::uint32_t mark) {
  return is_punt_mark(mark) && (mark & kPuntTaggedBit) != 0;
}
// The tag's VLAN id (meaningful when punt_mark_tagged).
constexpr std::uint16_t punt_mark_vlan(std::uint32_t mark) {
  return static_cast<std::uint16_t>((mark & kPuntVlanMask) >> kPuntVlanShift);
}

static_assert(punt_mark(kPuntOpenMark, 10) == 0x766700aa);
static_assert(punt_mark(kPuntClosedMark, 4095) == 0x7667fff9);
static_assert(punt_mark(kPuntClosedMark, 0) == 0x76670009);
static_assert(punt_mark_tagged(punt_mark(kPuntClosedMark, 20)) &&
              punt_mark_vlan(punt_mark(kPuntClosedMark, 20)) == 20);
static_assert(!punt_mark_tagged(kPuntOpenMark) && !punt_mark_tagged(0x000000aa));

}  // namespace v6g::nft
