// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink family "v6guard": ports, batched bindings, dumps,
 * counters and a multicast group for drop events. Every command acts on
 * the caller's network namespace; mutations need CAP_NET_ADMIN.
 */
#include <linux/if_vlan.h>
#include <linux/netdevice.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "v6g.h"

#define V6G_PORT_F_ALL                                                         \
	(V6G_PORT_F_MONITOR | V6G_PORT_F_DPI | V6G_PORT_F_MAC_CHECK |          \
	 V6G_PORT_F_BLOCK_HBH | V6G_PORT_F_BLOCK_RH | V6G_PORT_F_BLOCK_FRAG |  \
	 V6G_PORT_F_BLOCK_DSTOPT)

static const struct nla_policy v6g_binding_policy[V6G_BA_MAX + 1] = {
	[V6G_BA_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[V6G_BA_VLAN] = NLA_POLICY_MAX(NLA_U16, VLAN_N_VID - 2),
	[V6G_BA_MAC] = NLA_POLICY_EXACT_LEN(ETH_ALEN),
	[V6G_BA_ADDR] = NLA_POLICY_EXACT_LEN(sizeof(struct in6_addr)),
};

static const struct nla_policy v6g_policy[V6G_A_MAX + 1] = {
	[V6G_A_IFINDEX] = NLA_POLICY_MIN(NLA_U32, 1),
	[V6G_A_ROLE] = NLA_POLICY_MAX(NLA_U8, __V6G_ROLE_MAX - 1),
	[V6G_A_QUEUE] = { .type = NLA_U16 },
	[V6G_A_FAIL_MODE] = NLA_POLICY_MAX(NLA_U8, V6G_FAIL_OPEN),
	[V6G_A_FLAGS] = NLA_POLICY_MASK(NLA_U32, V6G_PORT_F_ALL),
	[V6G_A_MAC] = NLA_POLICY_EXACT_LEN(ETH_ALEN),
	[V6G_A_VLAN] = NLA_POLICY_MAX(NLA_U16, VLAN_N_VID - 2),
	[V6G_A_ADDR] = NLA_POLICY_EXACT_LEN(sizeof(struct in6_addr)),
	[V6G_A_BINDINGS] = NLA_POLICY_NESTED_ARRAY(v6g_binding_policy),
	[V6G_A_QUEUES] = NLA_POLICY_RANGE(NLA_U16, 1, V6G_MAX_QUEUES),
};

static struct genl_family v6g_family;

enum v6g_mcgrp {
	V6G_MCGRP_EVENTS,
};

static const struct genl_multicast_group v6g_mcgrps[] = {
	[V6G_MCGRP_EVENTS] = { .name = V6G_GENL_MCGRP_EVENTS },
};

static bool v6g_require(struct genl_info *info, int attr)
{
	if (info->attrs[attr])
		return true;
	NL_SET_ERR_MSG_ATTR_POL(info->extack, NULL, &v6g_policy[attr],
				"required attribute missing");
	info->extack->miss_type = attr;
	return false;
}

static int v6g_set_port(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct v6g_net *vn = v6g_pernet(net);
	struct nlattr **a = info->attrs;
	struct v6g_port tmpl = {};
	int err;

	if (!v6g_require(info, V6G_A_IFINDEX) || !v6g_require(info, V6G_A_ROLE))
		return -EINVAL;

	tmpl.ifindex = nla_get_u32(a[V6G_A_IFINDEX]);
	tmpl.role = nla_get_u8(a[V6G_A_ROLE]);
	if (a[V6G_A_QUEUE])
		tmpl.queue = nla_get_u16(a[V6G_A_QUEUE]);
	tmpl.queues = 1;
	if (a[V6G_A_QUEUES])
		tmpl.queues = nla_get_u16(a[V6G_A_QUEUES]);
	if ((u32)tmpl.queue + tmpl.queues - 1 > U16_MAX) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[V6G_A_QUEUES],
				    "queue range beyond 65535");
		return -ERANGE;
	}
	if (a[V6G_A_FAIL_MODE])
		tmpl.fail_mode = nla_get_u8(a[V6G_A_FAIL_MODE]);
	if (a[V6G_A_FLAGS])
		tmpl.flags = nla_get_u32(a[V6G_A_FLAGS]);
	if (a[V6G_A_VLAN])
		tmpl.vlan = nla_get_u16(a[V6G_A_VLAN]);
	if (a[V6G_A_MAC])
		nla_memcpy(tmpl.mac, a[V6G_A_MAC], ETH_ALEN);

	if ((tmpl.flags & V6G_PORT_F_MAC_CHECK) && !a[V6G_A_MAC]) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[V6G_A_FLAGS],
				    "MAC check needs the port's MAC");
		return -EINVAL;
	}
	rcu_read_lock();
	err = dev_get_by_index_rcu(net, tmpl.ifindex) ? 0 : -ENODEV;
	rcu_read_unlock();
	if (err) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[V6G_A_IFINDEX],
				    "no such interface in this netns");
		return err;
	}

	mutex_lock(&vn->lock);
	err = v6g_port_set(vn, &tmpl);
	mutex_unlock(&vn->lock);
	return err;
}

static int v6g_del_port(struct sk_buff *skb, struct genl_info *info)
{
	struct v6g_net *vn = v6g_pernet(genl_info_net(info));
	int err;

	if (!v6g_require(info, V6G_A_IFINDEX))
		return -EINVAL;

	mutex_lock(&vn->lock);
	err = v6g_port_del(vn, nla_get_u32(info->attrs[V6G_A_IFINDEX]));
	mutex_unlock(&vn->lock);
	if (err == -ENOENT)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[V6G_A_IFINDEX],
				    "port not configured");
	return err;
}

static int v6g_parse_binding(struct v6g_net *vn, const struct nlattr *entry,
			     struct v6g_binding_key *key,
			     struct netlink_ext_ack *extack)
{
	struct nlattr *tb[V6G_BA_MAX + 1];
	int err;

	/* Already validated against v6g_binding_policy by the array policy. */
	err = nla_parse_nested(tb, V6G_BA_MAX, entry, v6g_binding_policy,
			       extack);
	if (err)
		return err;
	if (!tb[V6G_BA_IFINDEX] || !tb[V6G_BA_MAC] || !tb[V6G_BA_ADDR]) {
		NL_SET_ERR_MSG_ATTR(extack, entry,
				    "binding needs ifindex, mac and addr");
		return -EINVAL;
	}

	memset(key, 0, sizeof(*key));
	key->ifindex = nla_get_u32(tb[V6G_BA_IFINDEX]);
	if (tb[V6G_BA_VLAN])
		key->vlan = nla_get_u16(tb[V6G_BA_VLAN]);
	nla_memcpy(key->mac, tb[V6G_BA_MAC], ETH_ALEN);
	nla_memcpy(&key->addr, tb[V6G_BA_ADDR], sizeof(key->addr));
	return 0;
}

static int v6g_change_bindings(struct genl_info *info, bool add)
{
	struct v6g_net *vn = v6g_pernet(genl_info_net(info));
	struct v6g_binding_key key;
	struct nlattr *entry;
	int rem, n = 0, err = 0;

	if (!v6g_require(info, V6G_A_BINDINGS))
		return -EINVAL;

	mutex_lock(&vn->lock);
	nla_for_each_nested(entry, info->attrs[V6G_A_BINDINGS], rem) {
		if (++n > V6G_MAX_BATCH) {
			NL_SET_ERR_MSG_ATTR(info->extack, entry,
					    "batch larger than V6G_MAX_BATCH");
			err = -E2BIG;
			break;
		}
		err = v6g_parse_binding(vn, entry, &key, info->extack);
		if (err)
			break;
		if (add && !v6g_port_lookup_locked(vn, key.ifindex)) {
			NL_SET_ERR_MSG_ATTR(info->extack, entry,
					    "binding on a port not configured");
			err = -ENOENT;
			break;
		}
		err = add ? v6g_binding_add(vn, &key) :
			    v6g_binding_del(vn, &key);
		if (err == -E2BIG) {
			NL_SET_ERR_MSG_ATTR(info->extack, entry,
					    "binding table full");
			break;
		}
		if (err) {
			NL_SET_ERR_MSG_ATTR(info->extack, entry,
					    "binding change failed");
			break;
		}
	}
	mutex_unlock(&vn->lock);
	return err;
}

static int v6g_add_bindings(struct sk_buff *skb, struct genl_info *info)
{
	return v6g_change_bindings(info, true);
}

static int v6g_del_bindings(struct sk_buff *skb, struct genl_info *info)
{
	return v6g_change_bindings(info, false);
}

static int v6g_flush(struct sk_buff *skb, struct genl_info *info)
{
	struct v6g_net *vn = v6g_pernet(genl_info_net(info));

	mutex_lock(&vn->lock);
	v6g_bindings_flush(vn, 0);
	v6g_ports_flush(vn);
	mutex_unlock(&vn->lock);
	return 0;
}

static int v6g_fill_port(struct sk_buff *skb, const struct netlink_callback *cb,
			 const struct v6g_port *port)
{
	struct nlattr *counters, *entry;
	unsigned int reason;
	void *hdr;
	u64 n;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &v6g_family, NLM_F_MULTI, V6G_CMD_GET_PORT);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, V6G_A_IFINDEX, port->ifindex) ||
	    nla_put_u8(skb, V6G_A_ROLE, port->role) ||
	    nla_put_u16(skb, V6G_A_QUEUE, port->queue) ||
	    nla_put_u16(skb, V6G_A_QUEUES, port->queues) ||
	    nla_put_u8(skb, V6G_A_FAIL_MODE, port->fail_mode) ||
	    nla_put_u32(skb, V6G_A_FLAGS, port->flags) ||
	    nla_put_u16(skb, V6G_A_VLAN, port->vlan) ||
	    nla_put(skb, V6G_A_MAC, ETH_ALEN, port->mac))
		goto cancel;

	counters = nla_nest_start(skb, V6G_A_COUNTERS);
	if (!counters)
		goto cancel;
	for (reason = 0; reason < __V6G_R_MAX; reason++) {
		n = v6g_port_counter(port, reason);
		if (!n)
			continue;
		entry = nla_nest_start(skb, V6G_A_COUNTERS_ENTRY);
		if (!entry || nla_put_u16(skb, V6G_CA_REASON, reason) ||
		    nla_put_u64_64bit(skb, V6G_CA_PACKETS, n, V6G_CA_PAD))
			goto cancel;
		nla_nest_end(skb, entry);
	}
	nla_nest_end(skb, counters);
	genlmsg_end(skb, hdr);
	return 0;

cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/* Ports are few: resume by skipping the cb->args[0] already sent. */
static int v6g_dump_ports(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct v6g_net *vn = v6g_pernet(sock_net(cb->skb->sk));
	struct rhashtable_iter iter;
	struct v6g_port *port;
	long idx = 0, skip = cb->args[0];

	rhashtable_walk_enter(&vn->ports, &iter);
	rhashtable_walk_start(&iter);
	while ((port = rhashtable_walk_next(&iter))) {
		if (IS_ERR(port))
			continue;
		if (idx++ < skip)
			continue;
		if (v6g_fill_port(skb, cb, port)) {
			idx--;
			break;
		}
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
	cb->args[0] = idx;
	return skb->len;
}

/* Bindings can be many: keep a live walker across dump calls. */
static int v6g_dump_bindings_start(struct netlink_callback *cb)
{
	struct v6g_net *vn = v6g_pernet(sock_net(cb->skb->sk));
	struct rhashtable_iter *iter;

	iter = kmalloc(sizeof(*iter), GFP_KERNEL);
	if (!iter)
		return -ENOMEM;
	rhashtable_walk_enter(&vn->bindings, iter);
	cb->args[0] = (long)iter;
	cb->args[1] = 0; /* binding that did not fit last time */
	return 0;
}

static int v6g_dump_bindings_done(struct netlink_callback *cb)
{
	struct rhashtable_iter *iter = (struct rhashtable_iter *)cb->args[0];

	if (iter) {
		rhashtable_walk_exit(iter);
		kfree(iter);
	}
	/* A dump abandoned mid-way may still hold the entry that did not fit.
	 */
	kfree((void *)cb->args[1]);
	return 0;
}

static int v6g_fill_binding(struct sk_buff *skb,
			    const struct netlink_callback *cb,
			    const struct v6g_binding_key *key)
{
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &v6g_family, NLM_F_MULTI, V6G_CMD_GET_BINDINGS);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, V6G_A_IFINDEX, key->ifindex) ||
	    nla_put_u16(skb, V6G_A_VLAN, key->vlan) ||
	    nla_put(skb, V6G_A_MAC, ETH_ALEN, key->mac) ||
	    nla_put_in6_addr(skb, V6G_A_ADDR, &key->addr)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int v6g_dump_bindings(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct rhashtable_iter *iter = (struct rhashtable_iter *)cb->args[0];
	struct v6g_binding_key *pending = (struct v6g_binding_key *)cb->args[1];
	struct v6g_binding *b;
	int err = 0;

	/* A binding that did not fit in the previous message goes first. */
	if (pending) {
		err = v6g_fill_binding(skb, cb, pending);
		if (err)
			return err;
		kfree(pending);
		cb->args[1] = 0;
	}

	rhashtable_walk_start(iter);
	while ((b = rhashtable_walk_next(iter))) {
		if (IS_ERR(b)) {
			if (PTR_ERR(b) == -EAGAIN)
				continue;
			err = PTR_ERR(b);
			break;
		}
		if (v6g_fill_binding(skb, cb, &b->key)) {
			pending = kmemdup(&b->key, sizeof(b->key), GFP_ATOMIC);
			if (!pending)
				err = -ENOMEM;
			cb->args[1] = (long)pending;
			break;
		}
	}
	rhashtable_walk_stop(iter);
	return err ? err : skb->len;
}

static const struct genl_small_ops v6g_ops[] = {
	{
		.cmd = V6G_CMD_SET_PORT,
		.doit = v6g_set_port,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = V6G_CMD_DEL_PORT,
		.doit = v6g_del_port,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = V6G_CMD_GET_PORT,
		.dumpit = v6g_dump_ports,
	},
	{
		.cmd = V6G_CMD_ADD_BINDINGS,
		.doit = v6g_add_bindings,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = V6G_CMD_DEL_BINDINGS,
		.doit = v6g_del_bindings,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = V6G_CMD_FLUSH,
		.doit = v6g_flush,
		.flags = GENL_ADMIN_PERM,
	},
};

/* Dumps with start/done callbacks need the full genl_ops. */
static const struct genl_ops v6g_full_ops[] = {
	{
		.cmd = V6G_CMD_GET_BINDINGS,
		.start = v6g_dump_bindings_start,
		.dumpit = v6g_dump_bindings,
		.done = v6g_dump_bindings_done,
	},
};

static struct genl_family v6g_family __ro_after_init = {
	.name = V6G_GENL_NAME,
	.version = V6G_GENL_VERSION,
	.maxattr = V6G_A_MAX,
	.policy = v6g_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.small_ops = v6g_ops,
	.n_small_ops = ARRAY_SIZE(v6g_ops),
	.ops = v6g_full_ops,
	.n_ops = ARRAY_SIZE(v6g_full_ops),
	.mcgrps = v6g_mcgrps,
	.n_mcgrps = ARRAY_SIZE(v6g_mcgrps),
};

/* Called from the hook (softirq) for every counted drop. */
void v6g_notify_drop(struct net *net, const struct v6g_port *port, u16 vlan,
		     const u8 *mac, const struct in6_addr *saddr,
		     enum v6g_reason reason)
{
	struct v6g_net *vn = v6g_pernet(net);
	struct sk_buff *skb;
	void *hdr;

	if (!genl_has_listeners(&v6g_family, net, V6G_MCGRP_EVENTS))
		return;
	if (!__ratelimit(&vn->event_rs))
		return;

	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_ATOMIC);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &v6g_family, 0, V6G_CMD_EVENT);
	if (!hdr)
		goto err_free;
	if (nla_put_u32(skb, V6G_A_IFINDEX, port->ifindex) ||
	    nla_put_u16(skb, V6G_A_VLAN, vlan) ||
	    nla_put(skb, V6G_A_MAC, ETH_ALEN, mac) ||
	    nla_put_u16(skb, V6G_A_REASON, reason) ||
	    (saddr && nla_put_in6_addr(skb, V6G_A_ADDR, saddr)))
		goto err_free;
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&v6g_family, net, skb, 0, V6G_MCGRP_EVENTS,
				GFP_ATOMIC);
	return;

err_free:
	nlmsg_free(skb);
}

int __init v6g_genl_init(void)
{
	return genl_register_family(&v6g_family);
}

void v6g_genl_exit(void)
{
	genl_unregister_family(&v6g_family);
}
