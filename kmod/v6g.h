/* SPDX-License-Identifier: GPL-2.0 */
/*
 * v6guard internals shared by the hook, the tables and the netlink code.
 */
#ifndef _V6G_H
#define _V6G_H

#include <linux/etherdevice.h>
#include <linux/in6.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/ratelimit.h>
#include <linux/rhashtable.h>
#include <linux/siphash.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "uapi/v6guard.h"

struct v6g_port_stats {
	u64 packets[__V6G_R_MAX];
};

struct v6g_port {
	struct rhash_head node;
	u32 ifindex; /* key */
	u8 role;
	u8 fail_mode;
	u16 queue;
	u16 queues; /* >= 1: punts to queue + cpu % queues */
	u32 flags;
	u16 vlan;
	u8 mac[ETH_ALEN];
	struct v6g_port_stats __percpu *stats;
	struct rcu_head rcu;
};

/* Zero-padded so siphash over the whole struct is well defined. */
struct v6g_binding_key {
	u32 ifindex;
	u16 vlan;
	u8 mac[ETH_ALEN];
	struct in6_addr addr;
} __aligned(8);

struct v6g_binding {
	struct rhash_head node;
	struct v6g_binding_key key;
	struct rcu_head rcu;
};

/* Per network namespace state. Writers hold @lock; the hook reads under RCU. */
struct v6g_net {
	struct net *net;
	struct mutex lock;
	struct rhashtable ports;
	struct rhashtable bindings;
	struct ratelimit_state event_rs; /* drop events to userspace */
	unsigned int nports;
	bool hook_registered;
};

extern unsigned int v6g_net_id;
extern siphash_key_t v6g_hash_key;

static inline struct v6g_net *v6g_pernet(const struct net *net)
{
	return net_generic(net, v6g_net_id);
}

/* hook.c */
int v6g_hook_enable(struct v6g_net *vn);
void v6g_hook_disable(struct v6g_net *vn);

/* ports.c */
int v6g_ports_init(struct v6g_net *vn);
void v6g_ports_destroy(struct v6g_net *vn);
struct v6g_port *v6g_port_lookup(struct v6g_net *vn, u32 ifindex);
struct v6g_port *v6g_port_lookup_locked(struct v6g_net *vn, u32 ifindex);
int v6g_port_set(struct v6g_net *vn, const struct v6g_port *tmpl);
int v6g_port_del(struct v6g_net *vn, u32 ifindex);
void v6g_ports_flush(struct v6g_net *vn);
void v6g_port_count(struct v6g_port *port, enum v6g_reason reason);
u64 v6g_port_counter(const struct v6g_port *port, unsigned int reason);

/* bindings.c */
int v6g_bindings_init(struct v6g_net *vn);
void v6g_bindings_destroy(struct v6g_net *vn);
bool v6g_binding_known(struct v6g_net *vn, const struct v6g_binding_key *key);
int v6g_binding_add(struct v6g_net *vn, const struct v6g_binding_key *key);
int v6g_binding_del(struct v6g_net *vn, const struct v6g_binding_key *key);
void v6g_bindings_flush(struct v6g_net *vn, u32 ifindex);

/* netlink.c */
int v6g_genl_init(void);
void v6g_genl_exit(void);
void v6g_notify_drop(struct net *net, const struct v6g_port *port, u16 vlan,
		     const u8 *mac, const struct in6_addr *saddr,
		     enum v6g_reason reason);

#endif /* _V6G_H */
