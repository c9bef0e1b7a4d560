// SPDX-License-Identifier: GPL-2.0
/*
 * nfq_verdict: a minimal stand-in for the v6guard inspector in selftests.
 * Reads one nfqueue (pure libmnl + libnetfilter_queue message helpers),
 * prints one line per packet and gives every packet a verdict:
 * ND/RS/MLD are accepted, except a Neighbor Advertisement arriving on a
 * port that does not own its target (-d PORT,TARGET: the ND-inspection
 * decision the real inspector makes for a spoofed NA); everything else
 * gets the default verdict (-D drop|accept).
 *
 *   nfq_verdict -q QUEUE [-d PORT,TARGET]... [-D accept|drop] [-n MAX]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip6.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define MAX_DENY 16

static struct mnl_socket *nl;
static unsigned int queue_num;
struct deny_rule {
	char port[IF_NAMESIZE];
	struct in6_addr target;
};

static struct deny_rule deny[MAX_DENY];
static int ndeny;
static int default_verdict = NF_DROP;
static long seen;

static int denied_target(const char *port, const struct in6_addr *t)
{
	for (int i = 0; i < ndeny; i++)
		if (!strcmp(deny[i].port, port) &&
		    !memcmp(&deny[i].target, t, sizeof(*t)))
			return 1;
	return 0;
}

static int parse_deny(char *arg, struct deny_rule *r)
{
	char *comma = strchr(arg, ',');

	if (!comma || comma - arg >= IF_NAMESIZE)
		return -1;
	*comma = '\0';
	strcpy(r->port, arg);
	return inet_pton(AF_INET6, comma + 1, &r->target) == 1 ? 0 : -1;
}

/* Verdict from the IPv6 packet bytes (network header first). */
static int decide(const char *port, const uint8_t *p, size_t len, char *why,
		  size_t wlen)
{
	const struct ip6_hdr *ip6 = (const void *)p;
	const struct icmp6_hdr *ic;
	char tbuf[INET6_ADDRSTRLEN];

	if (len < sizeof(*ip6) || (p[0] >> 4) != 6) {
		snprintf(why, wlen, "not-ipv6");
		return default_verdict;
	}
	if (ip6->ip6_nxt != IPPROTO_ICMPV6 ||
	    len < sizeof(*ip6) + sizeof(*ic)) {
		snprintf(why, wlen, "nh=%u", ip6->ip6_nxt);
		return default_verdict;
	}
	ic = (const void *)(p + sizeof(*ip6));
	switch (ic->icmp6_type) {
	case ND_NEIGHBOR_ADVERT:
		if (len >= sizeof(*ip6) + sizeof(struct nd_neighbor_advert)) {
			const struct nd_neighbor_advert *na = (const void *)ic;

			inet_ntop(AF_INET6, &na->nd_na_target, tbuf,
				  sizeof(tbuf));
			snprintf(why, wlen, "icmp6 type=136 target=%s", tbuf);
			return denied_target(port, &na->nd_na_target)
				   ? NF_DROP
				   : NF_ACCEPT;
		}
		break;
	case ND_NEIGHBOR_SOLICIT:
	case ND_ROUTER_SOLICIT:
	case MLD_LISTENER_QUERY:
	case MLD_LISTENER_REPORT:
	case MLD_LISTENER_REDUCTION:
	case 143: /* MLDv2 report */
		snprintf(why, wlen, "icmp6 type=%u", ic->icmp6_type);
		return NF_ACCEPT;
	}
	snprintf(why, wlen, "icmp6 type=%u", ic->icmp6_type);
	return default_verdict;
}

static int on_packet(const struct nlmsghdr *nlh, void *data)
{
	char buf[8192], in[IF_NAMESIZE] = "?", why[128];
	struct nlattr *attr[NFQA_MAX + 1] = {0};
	struct nfqnl_msg_packet_hdr *ph;
	struct nlmsghdr *v;
	const uint8_t *payload = NULL;
	size_t plen = 0;
	uint32_t id;
	int verdict;

	(void)data;
	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return MNL_CB_ERROR;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	if (attr[NFQA_PAYLOAD]) {
		payload = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		plen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	/* Bridge family: INDEV is the bridge, PHYSINDEV the port. */
	if (attr[NFQA_IFINDEX_PHYSINDEV])
		if_indextoname(
		    ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_PHYSINDEV])), in);
	else if (attr[NFQA_IFINDEX_INDEV])
		if_indextoname(
		    ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV])), in);
	verdict = payload ? decide(in, payload, plen, why, sizeof(why))
			  : default_verdict;
	if (!payload)
		snprintf(why, sizeof(why), "no-payload");
	printf("pkt in=%s %s -> %s\n", in, why,
	       verdict == NF_ACCEPT ? "ACCEPT" : "DROP");
	fflush(stdout);

	/* Every packet gets a verdict, or it sits in the queue forever. */
	v = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, queue_num);
	nfq_nlmsg_verdict_put(v, id, verdict);
	if (mnl_socket_sendto(nl, v, v->nlmsg_len) < 0) {
		perror("verdict");
		return MNL_CB_ERROR;
	}
	seen++;
	return MNL_CB_OK;
}

static int config(struct nlmsghdr *n)
{
	return mnl_socket_sendto(nl, n, n->nlmsg_len) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	static char buf[0xffff + 8192];
	struct nlmsghdr *n;
	long max = 0;
	int one = 1, opt;

	while ((opt = getopt(argc, argv, "q:d:D:n:")) != -1) {
		switch (opt) {
		case 'q':
			queue_num = (unsigned int)atoi(optarg);
			break;
		case 'd':
			if (ndeny == MAX_DENY ||
			    parse_deny(optarg, &deny[ndeny++])) {
				fprintf(stderr, "bad -d %s\n", optarg);
				return 2;
			}
			break;
		case 'D':
			default_verdict =
			    strcmp(optarg, "accept") ? NF_DROP : NF_ACCEPT;
			break;
		case 'n':
			max = atol(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s -q QUEUE [-d PORT,TARGET]... "
				"[-D accept|drop] [-n MAX]\n",
				argv[0]);
			return 2;
		}
	}

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("netlink");
		return 1;
	}
	mnl_socket_setsockopt(nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	n = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue_num);
	nfq_nlmsg_cfg_put_cmd(n, AF_BRIDGE, NFQNL_CFG_CMD_BIND);
	if (config(n)) {
		perror("bind queue");
		return 1;
	}
	n = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue_num);
	nfq_nlmsg_cfg_put_params(n, NFQNL_COPY_PACKET, 0xffff);
	if (config(n)) {
		perror("queue params");
		return 1;
	}
	printf("listening on queue %u\n", queue_num);
	fflush(stdout);

	while (!max || seen < max) {
		int r = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (r < 0) {
			if (errno == ENOBUFS)
				continue;
			perror("recv");
			return 1;
		}
		if (mnl_cb_run(buf, r, 0, mnl_socket_get_portid(nl), on_packet,
			       NULL) < 0) {
			perror("callback");
			return 1;
		}
	}
	return 0;
}
