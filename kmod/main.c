// SPDX-License-Identifier: GPL-2.0
/*
 * v6guard: IPv6 first-hop security for bridged VM ports.
 *
 * Module and per-netns lifetime. Each network namespace gets its own port
 * and binding tables; the bridge hook is registered in a namespace only
 * while it has ports, so idle namespaces pay nothing.
 */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/random.h>
#include <net/genetlink.h>

#include "v6g.h"

unsigned int v6g_net_id __read_mostly;
siphash_key_t v6g_hash_key __read_mostly;

static int __net_init v6g_net_init(struct net *net)
{
	struct v6g_net *vn = v6g_pernet(net);
	int err;

	vn->net = net;
	mutex_init(&vn->lock);
	/* A flood of spoofed frames must not become a flood of events. */
	ratelimit_state_init(&vn->event_rs, HZ, 200);
	ratelimit_set_flags(&vn->event_rs, RATELIMIT_MSG_ON_RELEASE);

	err = v6g_ports_init(vn);
	if (err)
		return err;
	err = v6g_bindings_init(vn);
	if (err)
		goto err_ports;
	return 0;

err_ports:
	v6g_ports_destroy(vn);
	return err;
}

static void __net_exit v6g_net_exit(struct net *net)
{
	struct v6g_net *vn = v6g_pernet(net);

	mutex_lock(&vn->lock);
	v6g_hook_disable(vn);
	mutex_unlock(&vn->lock);
	/* The hook is gone and synchronize_net() ran: no readers left. */
	v6g_bindings_destroy(vn);
	v6g_ports_destroy(vn);
}

/* A port whose device goes away takes its bindings along: ifindexes are
 * reused, and a new device must not inherit an old VM's bindings.
 */
static int v6g_netdev_event(struct notifier_block *nb, unsigned long event,
			    void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct v6g_net *vn;

	if (event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;
	vn = v6g_pernet(dev_net(dev));
	mutex_lock(&vn->lock);
	if (v6g_port_lookup_locked(vn, dev->ifindex))
		v6g_port_del(vn, dev->ifindex);
	mutex_unlock(&vn->lock);
	return NOTIFY_DONE;
}

static struct notifier_block v6g_netdev_notifier = {
	.notifier_call = v6g_netdev_event,
};

static struct pernet_operations v6g_net_ops = {
	.init = v6g_net_init,
	.exit = v6g_net_exit,
	.id = &v6g_net_id,
	.size = sizeof(struct v6g_net),
};

static int __init v6g_init(void)
{
	int err;

	get_random_bytes(&v6g_hash_key, sizeof(v6g_hash_key));

	err = register_pernet_subsys(&v6g_net_ops);
	if (err)
		return err;
	err = register_netdevice_notifier(&v6g_netdev_notifier);
	if (err)
		goto err_pernet;
	err = v6g_genl_init();
	if (err)
		goto err_notifier;

	pr_info("loaded (genl family %s v%d)\n", V6G_GENL_NAME,
		V6G_GENL_VERSION);
	return 0;

err_notifier:
	unregister_netdevice_notifier(&v6g_netdev_notifier);
err_pernet:
	unregister_pernet_subsys(&v6g_net_ops);
	return err;
}

static void __exit v6g_exit(void)
{
	v6g_genl_exit();
	unregister_netdevice_notifier(&v6g_netdev_notifier);
	unregister_pernet_subsys(&v6g_net_ops);
	/* Wait for kfree_rcu()/call_rcu() callbacks still pointing at us. */
	rcu_barrier();
	pr_info("unloaded\n");
}

module_init(v6g_init);
module_exit(v6g_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("v6guard authors");
MODULE_DESCRIPTION("IPv6 first-hop security for bridged VM ports");
MODULE_ALIAS_GENL_FAMILY(V6G_GENL_NAME);
