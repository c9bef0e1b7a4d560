// SPDX-License-Identifier: GPL-2.0
/*
 * Port table: ifindex -> role, queue, fail mode, flags, MAC, per-CPU
 * counters. RCU readers in the hook, writers serialised by v6g_net.lock.
 */
#include "v6g.h"

static const struct rhashtable_params v6g_port_params = {
	.key_len = sizeof(u32),
	.key_offset = offsetof(struct v6g_port, ifindex),
	.head_offset = offsetof(struct v6g_port, node),
	/* Ifindexes are chosen by the host, not by tenants: rhashtable's
	 * seeded jhash is enough here and cheaper on every frame.
	 */
	.automatic_shrinking = true,
};

int v6g_ports_init(struct v6g_net *vn)
{
	return rhashtable_init(&vn->ports, &v6g_port_params);
}

static void v6g_port_free_rcu(struct rcu_head *head)
{
	struct v6g_port *port = container_of(head, struct v6g_port, rcu);

	free_percpu(port->stats);
	kfree(port);
}

static void v6g_port_free_now(void *ptr, void *arg)
{
	struct v6g_port *port = ptr;

	free_percpu(port->stats);
	kfree(port);
}

void v6g_ports_destroy(struct v6g_net *vn)
{
	rhashtable_free_and_destroy(&vn->ports, v6g_port_free_now, NULL);
}

struct v6g_port *v6g_port_lookup(struct v6g_net *vn, u32 ifindex)
{
	return rhashtable_lookup(&vn->ports, &ifindex, v6g_port_params);
}

struct v6g_port *v6g_port_lookup_locked(struct v6g_net *vn, u32 ifindex)
{
	lockdep_assert_held(&vn->lock);
	return rhashtable_lookup_fast(&vn->ports, &ifindex, v6g_port_params);
}

/* Upsert: a new spec replaces the old one; counters start from zero. */
int v6g_port_set(struct v6g_net *vn, const struct v6g_port *tmpl)
{
	struct v6g_port *port, *old;
	int err;

	lockdep_assert_held(&vn->lock);

	port = kmemdup(tmpl, sizeof(*port), GFP_KERNEL);
	if (!port)
		return -ENOMEM;
	port->stats = alloc_percpu(struct v6g_port_stats);
	if (!port->stats) {
		kfree(port);
		return -ENOMEM;
	}

	old = rhashtable_lookup_fast(&vn->ports, &port->ifindex,
				     v6g_port_params);
	if (old) {
		err = rhashtable_replace_fast(&vn->ports, &old->node,
					      &port->node, v6g_port_params);
		if (err)
			goto err_free;
		call_rcu(&old->rcu, v6g_port_free_rcu);
		return 0;
	}

	err = v6g_hook_enable(vn);
	if (err)
		goto err_free;
	err = rhashtable_insert_fast(&vn->ports, &port->node, v6g_port_params);
	if (err)
		goto err_free;
	vn->nports++;
	return 0;

err_free:
	if (!vn->nports)
		v6g_hook_disable(vn);
	free_percpu(port->stats);
	kfree(port);
	return err;
}

static void v6g_port_unlink(struct v6g_net *vn, struct v6g_port *port)
{
	rhashtable_remove_fast(&vn->ports, &port->node, v6g_port_params);
	call_rcu(&port->rcu, v6g_port_free_rcu);
	vn->nports--;
}

int v6g_port_del(struct v6g_net *vn, u32 ifindex)
{
	struct v6g_port *port;

	lockdep_assert_held(&vn->lock);

	port = rhashtable_lookup_fast(&vn->ports, &ifindex, v6g_port_params);
	if (!port)
		return -ENOENT;
	v6g_bindings_flush(vn, ifindex);
	v6g_port_unlink(vn, port);
	if (!vn->nports)
		v6g_hook_disable(vn);
	return 0;
}

void v6g_ports_flush(struct v6g_net *vn)
{
	struct rhashtable_iter iter;
	struct v6g_port *port;

	lockdep_assert_held(&vn->lock);

	rhashtable_walk_enter(&vn->ports, &iter);
	rhashtable_walk_start(&iter);
	while ((port = rhashtable_walk_next(&iter))) {
		if (IS_ERR(port))
			continue; /* -EAGAIN: resize, keep walking */
		v6g_port_unlink(vn, port);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
	/* Outside the walk: unregistering the hook sleeps. */
	if (!vn->nports)
		v6g_hook_disable(vn);
}

void v6g_port_count(struct v6g_port *port, enum v6g_reason reason)
{
	this_cpu_inc(port->stats->packets[reason]);
}

u64 v6g_port_counter(const struct v6g_port *port, unsigned int reason)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(
			per_cpu_ptr(port->stats, cpu)->packets[reason]);
	return sum;
}
