/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * v6guard: IPv6 first-hop security for bridged VM ports.
 *
 * This header is shared by the kernel module (v6guard.ko) and the userspace
 * manager (C++). It defines the one verdict-reason enum used by the kernel,
 * the inspector, counters, events and metrics, and the generic netlink
 * family spoken between the two.
 *
 * ABI rule: values are append-only. Never renumber or reuse a value; add
 * new ones right before the __V6G_*_MAX sentinel.
 */
#ifndef _UAPI_LINUX_V6GUARD_H
#define _UAPI_LINUX_V6GUARD_H

#include <linux/types.h>

/*
 * Why a frame got its verdict. Reasons below V6G_R_FIRST_DROP describe
 * an accept or a punt; everything from V6G_R_FIRST_DROP on is a drop.
 * Parser rejections (malformed per RFC) and policy drops share the space
 * so one counter array and one event type cover both.
 */
enum v6g_reason {
	V6G_R_NONE = 0,			/* no decision yet / clean parse */

	/* accept or punt */
	V6G_R_ACCEPT_BINDING,		/* (port, vlan, mac, ip6) binding hit */
	V6G_R_ACCEPT_NOT_IPV6,		/* non-IPv6 frame, not our business */
	V6G_R_ACCEPT_TRUSTED_PORT,	/* router/trusted port, no check */
	V6G_R_ACCEPT_ND,		/* ND message passed inspection */
	V6G_R_ACCEPT_RA,		/* RA passed RA Guard */
	V6G_R_ACCEPT_DAD,		/* DAD NS, binding learnt/tentative */
	V6G_R_ACCEPT_MLD,		/* MLD passed inspection */
	V6G_R_ACCEPT_DHCPV6_CLIENT,	/* DHCPv6 client message */
	V6G_R_ACCEPT_INSPECTED,		/* other traffic passed inspection */
	V6G_R_ACCEPT_LEARNING,		/* RA forwarded during RA learning */
	V6G_R_ACCEPT_MONITOR,		/* would drop, port in monitor mode */
	V6G_R_ACCEPT_FAIL_OPEN,		/* inspector absent, port fails open */
	V6G_R_PUNT,			/* queued to the inspector */

	V6G_R_FIRST_DROP = 32,

	/* malformed: parser rejections */
	V6G_R_TRUNCATED = V6G_R_FIRST_DROP, /* frame shorter than headers */
	V6G_R_BAD_IP_VERSION,		/* IPv6 ethertype, version != 6 */
	V6G_R_BAD_PAYLOAD_LENGTH,	/* payload length beyond frame */
	V6G_R_EXTHDR_TOO_MANY,		/* chain longer than the limit */
	V6G_R_EXTHDR_TOO_LONG,		/* chain bytes beyond the limit */
	V6G_R_EXTHDR_ORDER,		/* RFC 8200 4.1 order violated */
	V6G_R_FRAG_FIRST_NO_UPPER,	/* RFC 7113: first fragment lacks L4 */
	V6G_R_FRAG_ATOMIC_BAD,		/* bad fragment header fields */
	V6G_R_ND_IN_FRAGMENT,		/* RFC 6980: ND inside a fragment */
	V6G_R_ICMPV6_CHECKSUM,		/* ICMPv6 checksum mismatch */
	V6G_R_ND_HOP_LIMIT,		/* RFC 4861: hop limit != 255 */
	V6G_R_ND_CODE,			/* RFC 4861: code != 0 */
	V6G_R_ND_LENGTH,		/* ND message too short */
	V6G_R_ND_OPTION_LENGTH,		/* option length 0 or past the end */
	V6G_R_ND_MULTICAST_TARGET,	/* NS/NA target is multicast */
	V6G_R_ND_BAD_SOURCE,		/* source address invalid for type */
	V6G_R_ND_BAD_DESTINATION,	/* destination invalid for type */
	V6G_R_ND_SLLA_UNSPEC,		/* SLLA option with :: source */
	V6G_R_MLD_NO_ROUTER_ALERT,	/* MLD without hop-by-hop RA option */
	V6G_R_MLD_BAD_SOURCE,		/* MLD source not link-local */
	V6G_R_MLD_HOP_LIMIT,		/* MLD hop limit != 1 */
	V6G_R_MLD_LENGTH,		/* MLD message malformed */
	V6G_R_ROUTING_TYPE0,		/* RFC 5095: type 0 routing header */

	/* RA Guard */
	V6G_R_RA_FROM_VM_PORT = 64,	/* VM ports never originate RAs */
	V6G_R_RA_PORT_BLOCKING,		/* port in RA-Blocking state */
	V6G_R_RA_LEARNING_BLOCKED,	/* learning period, block mode */
	V6G_R_RA_SOURCE_NOT_ALLOWED,	/* source not in allowed_ra_sources */
	V6G_R_RA_SOURCE_MAC_NOT_ALLOWED,/* source MAC not allowed */
	V6G_R_RA_SOURCE_NOT_LINK_LOCAL,	/* RFC 4861 6.1.2 */
	V6G_R_RA_PREFIX_NOT_ALLOWED,	/* advertised prefix not allowed */
	V6G_R_RA_FLAGS_NOT_ALLOWED,	/* M/O flags against policy */
	V6G_R_RA_PREFERENCE_TOO_HIGH,	/* router preference above max */
	V6G_R_RA_RATE_LIMIT,		/* ra_rate_limit exceeded */
	V6G_R_RA_GUARD_OFF_BLOCK,	/* reserved: device OFF, port blocks */
	V6G_R_REDIRECT_FROM_VM_PORT,	/* Redirect from a VM port */
	V6G_R_DHCPV6_SERVER_FROM_VM_PORT, /* ADVERTISE/REPLY/RECONF/RELAY-REPL */

	/* source guard, ND inspection */
	V6G_R_SOURCE_NOT_BOUND = 96,	/* IPv6 source without binding */
	V6G_R_SOURCE_MAC_MISMATCH,	/* source bound to another MAC */
	V6G_R_SOURCE_VLAN_MISMATCH,	/* source bound on another VLAN */
	V6G_R_SOURCE_OUTSIDE_PREFIX,	/* learn refused: not in allocation */
	V6G_R_ND_TARGET_NOT_OWNED,	/* NA target not bound to this port */
	V6G_R_ND_TARGET_BOUND_ELSEWHERE,/* DAD DoS: target owned elsewhere */
	V6G_R_ND_LLA_MISMATCH,		/* SLLA/TLLA != frame source MAC */
	V6G_R_ND_OVERRIDE_REFUSED,	/* unsolicited override of a binding */
	V6G_R_BINDING_LIMIT,		/* per-port binding cap reached */
	V6G_R_ETH_SOURCE_MAC_MISMATCH,	/* frame MAC is not the port's MAC */
	V6G_R_SOURCE_VERIFYING,		/* RFC 6620: unbound source, NS probe out */

	/* rate limits */
	V6G_R_ND_RATE_LIMIT = 128,
	V6G_R_ICMPV6_RATE_LIMIT,
	V6G_R_MULTICAST_RATE_LIMIT,
	V6G_R_PACKET_RATE_LIMIT,
	V6G_R_BANDWIDTH_LIMIT,

	/* extension headers, tunnels, firewall */
	V6G_R_EXTHDR_HOP_BY_HOP_BLOCKED = 160,
	V6G_R_EXTHDR_ROUTING_BLOCKED,
	V6G_R_EXTHDR_FRAGMENT_BLOCKED,
	V6G_R_EXTHDR_DEST_OPTS_BLOCKED,
	V6G_R_TUNNEL_BLOCKED,		/* IPv6-in-IPv6/UDP/GRE from a VM */
	V6G_R_FIREWALL_DENY,		/* per-port rule or default deny */
	V6G_R_TENANT_ISOLATION,		/* crosses tenant boundary */

	/* datapath */
	V6G_R_PORT_UNKNOWN = 192,	/* frame on a port v6guard doesn't know */
	V6G_R_FAIL_CLOSED,		/* inspector absent, class fails closed */
	V6G_R_QUEUE_FULL,		/* inspector queue overflow */

	__V6G_R_MAX,
};
#define V6G_R_MAX (__V6G_R_MAX - 1)

static inline int v6g_reason_is_drop(unsigned int reason)
{
	return reason >= V6G_R_FIRST_DROP;
}

/* ---------------------------------------------------------------------
 * Generic netlink family "v6guard" (kernel datapath control).
 * ---------------------------------------------------------------------
 */
#define V6G_GENL_NAME		"v6guard"
#define V6G_GENL_VERSION	1
#define V6G_GENL_MCGRP_EVENTS	"events"

/* Port roles: who may send what. */
enum v6g_port_role {
	V6G_ROLE_VM = 0,	/* untrusted tenant VM tap */
	V6G_ROLE_ROUTER,	/* legitimate router uplink (RA Guard applies) */
	V6G_ROLE_TRUSTED,	/* infrastructure: never inspected */
	__V6G_ROLE_MAX,
};

/* What to do with a punt class when no inspector is bound to the queue. */
enum v6g_fail_mode {
	V6G_FAIL_CLOSED = 0,
	V6G_FAIL_OPEN,
};

/* Port flags (V6G_A_PORT_FLAGS). */
#define V6G_PORT_F_MONITOR	(1U << 0)  /* log-only: never drop */
#define V6G_PORT_F_DPI		(1U << 1)  /* punt every IPv6 packet */
#define V6G_PORT_F_MAC_CHECK	(1U << 2)  /* enforce port MAC on all frames */
#define V6G_PORT_F_BLOCK_HBH	(1U << 3)
#define V6G_PORT_F_BLOCK_RH	(1U << 4)
#define V6G_PORT_F_BLOCK_FRAG	(1U << 5)
#define V6G_PORT_F_BLOCK_DSTOPT	(1U << 6)

/* Commands. */
enum v6g_cmd {
	V6G_CMD_UNSPEC = 0,
	V6G_CMD_SET_PORT,	/* upsert a port: IFINDEX + ROLE, QUEUE, ... */
	V6G_CMD_DEL_PORT,	/* IFINDEX; also removes its bindings */
	V6G_CMD_GET_PORT,	/* dump: port config + per-reason counters */
	V6G_CMD_ADD_BINDINGS,	/* BINDINGS: nested list of bindings */
	V6G_CMD_DEL_BINDINGS,	/* BINDINGS */
	V6G_CMD_GET_BINDINGS,	/* dump: one binding per message */
	V6G_CMD_FLUSH,		/* remove every port and binding (netns) */
	V6G_CMD_EVENT,		/* multicast "events": a counted drop */
	__V6G_CMD_MAX,
};
#define V6G_CMD_MAX (__V6G_CMD_MAX - 1)

/* At most this many punt queues per port (V6G_A_QUEUES): one per CPU. */
#define V6G_MAX_QUEUES 1024

/* Top-level attributes. */
enum v6g_attr {
	V6G_A_UNSPEC = 0,
	V6G_A_PAD,
	V6G_A_IFINDEX,		/* u32, > 0 */
	V6G_A_ROLE,		/* u8, enum v6g_port_role */
	V6G_A_QUEUE,		/* u16, nfqueue number for punts */
	V6G_A_FAIL_MODE,	/* u8, enum v6g_fail_mode */
	V6G_A_FLAGS,		/* u32, V6G_PORT_F_* */
	V6G_A_MAC,		/* binary, ETH_ALEN */
	V6G_A_VLAN,		/* u16, 0 (untagged) .. 4094 */
	V6G_A_ADDR,		/* binary, 16 bytes (struct in6_addr) */
	V6G_A_BINDINGS,		/* nest: V6G_A_BINDINGS_ENTRY * n */
	V6G_A_COUNTERS,		/* nest: V6G_A_COUNTERS_ENTRY * n */
	V6G_A_REASON,		/* u16, enum v6g_reason (events) */
	V6G_A_COUNT,		/* u32, bindings changed by a batch */
	V6G_A_QUEUES,		/* u16, 1..V6G_MAX_QUEUES: punts go to QUEUE +
				 * (cpu % QUEUES), a CPU-local queue (default 1) */
	__V6G_A_MAX,
};
#define V6G_A_MAX (__V6G_A_MAX - 1)

/* Type of each element inside V6G_A_BINDINGS and V6G_A_COUNTERS. */
#define V6G_A_BINDINGS_ENTRY	1
#define V6G_A_COUNTERS_ENTRY	1

/* Attributes of one binding (inside V6G_A_BINDINGS_ENTRY). */
enum v6g_binding_attr {
	V6G_BA_UNSPEC = 0,
	V6G_BA_IFINDEX,		/* u32 */
	V6G_BA_VLAN,		/* u16 */
	V6G_BA_MAC,		/* binary, ETH_ALEN */
	V6G_BA_ADDR,		/* binary, 16 bytes */
	__V6G_BA_MAX,
};
#define V6G_BA_MAX (__V6G_BA_MAX - 1)

/* Attributes of one counter (inside V6G_A_COUNTERS_ENTRY). */
enum v6g_counter_attr {
	V6G_CA_UNSPEC = 0,
	V6G_CA_PAD,
	V6G_CA_REASON,		/* u16, enum v6g_reason */
	V6G_CA_PACKETS,		/* u64 */
	__V6G_CA_MAX,
};
#define V6G_CA_MAX (__V6G_CA_MAX - 1)

/* Largest batch the module takes in one V6G_CMD_*_BINDINGS message. */
#define V6G_MAX_BATCH		4096

#endif /* _UAPI_LINUX_V6GUARD_H */
