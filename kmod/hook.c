// SPDX-License-Identifier: GPL-2.0
/*
 * Bridge prerouting hook: the per-frame verdict.
 *
 *   port not configured              -> ACCEPT, untouched
 *   known (port, vlan, mac, src)     -> ACCEPT (fast path)
 *   RA / Redirect / DHCPv6 server
 *     from a VM port                 -> DROP (counted)
 *   ND, MLD, router-port RA, ext
 *     headers, fragments, unknown
 *     source                         -> NF_QUEUE to the port's inspector
 *   non-IPv6                         -> ACCEPT, unless the port checks MACs
 *
 * Headers are read with skb_header_pointer() only; offsets are relative to
 * skb->data, which at NF_BR_PRE_ROUTING points past the Ethernet header.
 */
#include <linux/icmpv6.h>
#include <linux/if_vlan.h>
#include <linux/ipv6.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/udp.h>
#include <net/ipv6.h>
#include <net/ndisc.h>

#include "v6g.h"

#define DHCPV6_SERVER_PORT 547
#define DHCPV6_ADVERTISE   2
#define DHCPV6_REPLY	   7
#define DHCPV6_RECONFIGURE 10
#define DHCPV6_RELAY_REPL  13

/* What the classifier found; the port's policy turns it into a verdict. */
enum v6g_class {
	V6G_C_DATA,	 /* ordinary traffic: source guard */
	V6G_C_CONTROL,	 /* ND, MLD: inspect, port fail mode */
	V6G_C_ROUTER,	 /* RA, Redirect, DHCPv6 server: fail closed */
	V6G_C_OPAQUE,	 /* ext headers: inspect, port fail mode */
	V6G_C_HIDDEN,	 /* fragment: final L4 unknown, closed */
	V6G_C_MALFORMED, /* cannot parse: drop */
};

static bool v6g_is_dhcpv6_server(const struct sk_buff *skb, int thoff)
{
	struct udphdr _uh;
	const struct udphdr *uh;
	u8 _type;
	const u8 *type;

	uh = skb_header_pointer(skb, thoff, sizeof(_uh), &_uh);
	if (!uh || uh->source != htons(DHCPV6_SERVER_PORT))
		return false;
	type = skb_header_pointer(skb, thoff + sizeof(_uh), sizeof(_type),
				  &_type);
	if (!type)
		return false;
	switch (*type) {
	case DHCPV6_ADVERTISE:
	case DHCPV6_REPLY:
	case DHCPV6_RECONFIGURE:
	case DHCPV6_RELAY_REPL:
		return true;
	}
	return false;
}

static enum v6g_class v6g_classify_icmpv6(const struct sk_buff *skb, int thoff,
					  enum v6g_reason *why)
{
	u8 _type;
	const u8 *type;

	type = skb_header_pointer(skb, thoff, sizeof(_type), &_type);
	if (!type)
		return V6G_C_HIDDEN;

	switch (*type) {
	case NDISC_ROUTER_ADVERTISEMENT:
		*why = V6G_R_RA_FROM_VM_PORT;
		return V6G_C_ROUTER;
	case NDISC_REDIRECT:
		*why = V6G_R_REDIRECT_FROM_VM_PORT;
		return V6G_C_ROUTER;
	case NDISC_ROUTER_SOLICITATION:
	case NDISC_NEIGHBOUR_SOLICITATION:
	case NDISC_NEIGHBOUR_ADVERTISEMENT:
	case ICMPV6_MGM_QUERY:
	case ICMPV6_MGM_REPORT:
	case ICMPV6_MGM_REDUCTION:
	case ICMPV6_MLD2_REPORT:
		return V6G_C_CONTROL;
	}
	return V6G_C_DATA;
}

static enum v6g_class v6g_classify(const struct sk_buff *skb, int nhoff,
				   const struct ipv6hdr *ip6h,
				   enum v6g_reason *why)
{
	bool has_ext = ipv6_ext_hdr(ip6h->nexthdr);
	enum v6g_class class = V6G_C_DATA;
	u8 nexthdr = ip6h->nexthdr;
	__be16 frag_off = 0;
	int thoff = nhoff + sizeof(*ip6h);

	if (has_ext) {
		thoff = ipv6_skip_exthdr(skb, thoff, &nexthdr, &frag_off);
		if (thoff < 0)
			return V6G_C_MALFORMED;
		/* Offset != 0: the upper-layer header is in another frame. */
		if (ntohs(frag_off) & ~0x7)
			return V6G_C_HIDDEN;
	}

	if (nexthdr == IPPROTO_ICMPV6) {
		class = v6g_classify_icmpv6(skb, thoff, why);
	} else if (nexthdr == IPPROTO_UDP && v6g_is_dhcpv6_server(skb, thoff)) {
		*why = V6G_R_DHCPV6_SERVER_FROM_VM_PORT;
		class = V6G_C_ROUTER;
	}

	/*
	 * A first fragment that looks harmless may be overwritten by an
	 * overlapping later one (RFC 5722 attacks, atk6-fake_router26 -E o):
	 * only the inspector, or nobody, decides on fragments.
	 */
	if (frag_off && class != V6G_C_ROUTER)
		return V6G_C_HIDDEN;
	if (has_ext && class == V6G_C_DATA)
		class = V6G_C_OPAQUE;
	return class;
}

/*
 * A CPU-local queue: the inspector runs one reader per queue, pinned to the
 * CPUs that map to it, so the punt is read where it was queued and no other
 * (possibly halted) CPU has to be woken. The hook runs in softirq context:
 * smp_processor_id() is stable here.
 */
static unsigned int v6g_punt(struct v6g_port *port, bool may_bypass)
{
	u16 queue = port->queue;
	unsigned int verdict;

	if (port->queues > 1)
		queue += smp_processor_id() % port->queues;
	verdict = NF_QUEUE_NR(queue);

	v6g_port_count(port, V6G_R_PUNT);
	if (may_bypass && port->fail_mode == V6G_FAIL_OPEN)
		verdict |= NF_VERDICT_FLAG_QUEUE_BYPASS;
	return verdict;
}

static unsigned int v6g_drop(const struct nf_hook_state *state,
			     struct v6g_port *port, u16 vlan, const u8 *mac,
			     const struct in6_addr *saddr,
			     enum v6g_reason reason)
{
	v6g_port_count(port, reason);
	v6g_notify_drop(state->net, port, vlan, mac, saddr, reason);
	if (port->flags & V6G_PORT_F_MONITOR) {
		v6g_port_count(port, V6G_R_ACCEPT_MONITOR);
		return NF_ACCEPT;
	}
	return NF_DROP;
}

static unsigned int v6g_accept(struct v6g_port *port, enum v6g_reason reason)
{
	v6g_port_count(port, reason);
	return NF_ACCEPT;
}

/* Router-role ports: RA Guard and ND inspection, no source guard. */
static unsigned int v6g_router_verdict(struct v6g_port *port,
				       enum v6g_class class)
{
	switch (class) {
	case V6G_C_ROUTER:
	case V6G_C_HIDDEN:
	case V6G_C_MALFORMED: /* may hide an RA: the inspector decides */
		return v6g_punt(port, false);
	case V6G_C_CONTROL:
		return v6g_punt(port, true);
	default:
		return v6g_accept(port, V6G_R_ACCEPT_TRUSTED_PORT);
	}
}

static unsigned int v6g_hook(void *priv, struct sk_buff *skb,
			     const struct nf_hook_state *state)
{
	struct v6g_binding_key key;
	const struct ipv6hdr *ip6h;
	struct ipv6hdr _ip6h;
	enum v6g_class class;
	struct v6g_port *port;
	struct v6g_net *vn;
	__be16 proto = skb->protocol;
	const u8 *src_mac;
	int nhoff = 0;
	u16 vlan = 0;
	enum v6g_reason why = V6G_R_NONE;

	if (!state->in)
		return NF_ACCEPT;
	vn = v6g_pernet(state->net);
	port = v6g_port_lookup(vn, state->in->ifindex);
	if (!port)
		return NF_ACCEPT;
	if (port->role == V6G_ROLE_TRUSTED)
		return v6g_accept(port, V6G_R_ACCEPT_TRUSTED_PORT);

	if (!skb_mac_header_was_set(skb))
		return NF_ACCEPT;
	src_mac = eth_hdr(skb)->h_source;

	/*
	 * The receive path moves the outer tag out of band; a second
	 * (QinQ) tag stays in the frame and must not hide an RA. Bindings
	 * use the outermost VLAN id.
	 */
	if (skb_vlan_tag_present(skb))
		vlan = skb_vlan_tag_get_id(skb);
	if (eth_type_vlan(proto)) {
		struct vlan_hdr _vh;
		const struct vlan_hdr *vh;

		vh = skb_header_pointer(skb, 0, sizeof(_vh), &_vh);
		if (!vh)
			return v6g_drop(state, port, vlan, src_mac, NULL,
					V6G_R_TRUNCATED);
		if (!skb_vlan_tag_present(skb))
			vlan = ntohs(vh->h_vlan_TCI) & VLAN_VID_MASK;
		proto = vh->h_vlan_encapsulated_proto;
		nhoff = VLAN_HLEN;
		/* A third tag: an encapsulation we do not look through. */
		if (eth_type_vlan(proto))
			return v6g_drop(state, port, vlan, src_mac, NULL,
					V6G_R_TUNNEL_BLOCKED);
	}

	if ((port->flags & V6G_PORT_F_MAC_CHECK) &&
	    !ether_addr_equal(src_mac, port->mac))
		return v6g_drop(state, port, vlan, src_mac, NULL,
				V6G_R_ETH_SOURCE_MAC_MISMATCH);

	if (proto != htons(ETH_P_IPV6))
		return v6g_accept(port, V6G_R_ACCEPT_NOT_IPV6);

	ip6h = skb_header_pointer(skb, nhoff, sizeof(_ip6h), &_ip6h);
	if (!ip6h)
		return v6g_drop(state, port, vlan, src_mac, NULL,
				V6G_R_TRUNCATED);
	if (ip6h->version != 6)
		return v6g_drop(state, port, vlan, src_mac, &ip6h->saddr,
				V6G_R_BAD_IP_VERSION);

	class = v6g_classify(skb, nhoff, ip6h, &why);
	if (port->role == V6G_ROLE_ROUTER)
		return v6g_router_verdict(port, class);

	switch (class) {
	case V6G_C_MALFORMED:
		return v6g_drop(state, port, vlan, src_mac, &ip6h->saddr,
				V6G_R_TRUNCATED);
	case V6G_C_ROUTER:
		return v6g_drop(state, port, vlan, src_mac, &ip6h->saddr, why);
	case V6G_C_HIDDEN:
		return v6g_punt(port, false);
	case V6G_C_CONTROL:
	case V6G_C_OPAQUE:
		return v6g_punt(port, true);
	case V6G_C_DATA:
		break;
	}

	if (port->flags & V6G_PORT_F_DPI)
		return v6g_punt(port, true);

	memset(&key, 0, sizeof(key));
	key.ifindex = port->ifindex;
	key.vlan = vlan;
	ether_addr_copy(key.mac, src_mac);
	key.addr = ip6h->saddr;
	if (v6g_binding_known(vn, &key))
		return v6g_accept(port, V6G_R_ACCEPT_BINDING);

	/* Unknown source: the inspector may learn it (DAD) or drop it. */
	return v6g_punt(port, true);
}

static const struct nf_hook_ops v6g_hook_ops = {
	.hook = v6g_hook,
	.pf = NFPROTO_BRIDGE,
	.hooknum = NF_BR_PRE_ROUTING,
	/* Before bridge-family nftables filter chains (-200). */
	.priority = NF_BR_PRI_FILTER_BRIDGED - 50,
};

int v6g_hook_enable(struct v6g_net *vn)
{
	int err;

	lockdep_assert_held(&vn->lock);
	if (vn->hook_registered)
		return 0;
	err = nf_register_net_hook(vn->net, &v6g_hook_ops);
	if (!err)
		vn->hook_registered = true;
	return err;
}

void v6g_hook_disable(struct v6g_net *vn)
{
	lockdep_assert_held(&vn->lock);
	if (!vn->hook_registered)
		return;
	nf_unregister_net_hook(vn->net, &v6g_hook_ops);
	vn->hook_registered = false;
}
