// SPDX-License-Identifier: GPL-2.0
/*
 * genl_fuzz: random generic netlink requests to the v6guard family.
 *
 * Each request has a random command (including unknown ones and the
 * multicast-only EVENT), random flags (dump or not), and 0-7 random
 * attributes: known types with well-formed, boundary or random payloads,
 * unknown types, wrong lengths, nested binding lists with random entries,
 * random NLA_F_NESTED / NLA_F_NET_BYTEORDER bits, and now and then a
 * truncated nlmsg_len. Interface indexes are drawn from the real ones given
 * with -i so the add/delete paths run too.
 *
 * Every request must get its answer (ack, error or a complete dump) within
 * a second; anything else is a failure. Prints errno counts; the selftest
 * checks dmesg and that the module still works afterwards.
 *
 * With -u (run without CAP_NET_ADMIN) every mutating command must be
 * refused: one that is answered "ok" is a failure.
 *
 *   genl_fuzz [-n COUNT] [-s SEED] [-i IFINDEX]... [-u]
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "v6guard.h"

static struct mnl_socket *nl;
static unsigned int portid, seq;
static uint16_t family;
static uint32_t ifindexes[8];
static int nifindex;
static uint64_t rng;

static uint32_t rnd(void)
{
	/* xorshift64*: reproducible from the printed seed */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static uint32_t pick_u32(void)
{
	static const uint32_t edge[] = {
		0,    1,     2,	    255,	256,	    4094,      4095,
		4096, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff
	};
	switch (below(4)) {
	case 0:
		return nifindex ? ifindexes[below(nifindex)] : 1;
	case 1:
		return edge[below(sizeof(edge) / sizeof(edge[0]))];
	case 2:
		return below(8);
	default:
		return rnd();
	}
}

static void put_random_bytes(struct nlmsghdr *nlh, uint16_t type, size_t len)
{
	unsigned char buf[64];
	size_t i;

	for (i = 0; i < len && i < sizeof(buf); i++)
		buf[i] = below(4) ? (unsigned char)rnd() : 0;
	mnl_attr_put(nlh, type, len, buf);
}

/* An attribute of `type` whose expected size is `size` (0 = variable). */
static void put_attr(struct nlmsghdr *nlh, uint16_t type, size_t size)
{
	uint32_t v = pick_u32();

	if (below(8) == 0)
		type |= NLA_F_NET_BYTEORDER;
	if (size == 0 || below(6) == 0) { /* wrong or random length */
		put_random_bytes(nlh, type, below(40));
		return;
	}
	switch (size) {
	case 1:
		mnl_attr_put_u8(nlh, type, (uint8_t)v);
		break;
	case 2:
		mnl_attr_put_u16(nlh, type, (uint16_t)v);
		break;
	case 4:
		mnl_attr_put_u32(nlh, type, v);
		break;
	case 8:
		mnl_attr_put_u64(nlh, type, ((uint64_t)rnd() << 32) | v);
		break;
	default:
		put_random_bytes(nlh, type, size);
	}
}

static size_t attr_size(uint16_t type)
{
	switch (type) {
	case V6G_A_IFINDEX:
	case V6G_A_FLAGS:
	case V6G_A_COUNT:
		return 4;
	case V6G_A_ROLE:
	case V6G_A_FAIL_MODE:
		return 1;
	case V6G_A_QUEUE:
	case V6G_A_VLAN:
	case V6G_A_REASON:
		return 2;
	case V6G_A_MAC:
		return 6;
	case V6G_A_ADDR:
		return 16;
	default:
		return 0;
	}
}

static size_t binding_attr_size(uint16_t type)
{
	switch (type) {
	case V6G_BA_IFINDEX:
		return 4;
	case V6G_BA_VLAN:
		return 2;
	case V6G_BA_MAC:
		return 6;
	case V6G_BA_ADDR:
		return 16;
	default:
		return 0;
	}
}

static void put_bindings(struct nlmsghdr *nlh, uint16_t type)
{
	struct nlattr *list, *entry;
	int n = below(5) == 0 ? below(200) : below(5), i, j, k;

	list = mnl_attr_nest_start(nlh,
				   below(10) ? type : (type & ~NLA_F_NESTED));
	for (i = 0; i < n && mnl_nlmsg_size(nlh->nlmsg_len) < 7000; i++) {
		entry = mnl_attr_nest_start(
			nlh, below(10) ? V6G_A_BINDINGS_ENTRY : below(4));
		k = below(10) ? 4 : below(7);
		for (j = 0; j < k; j++) {
			uint16_t t = below(10) ? (uint32_t)j + 1 :
						 below(V6G_BA_MAX + 3);

			put_attr(nlh, t, binding_attr_size(t));
		}
		mnl_attr_nest_end(nlh, entry);
	}
	mnl_attr_nest_end(nlh, list);
}

static int on_error(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

	*(int *)data = err->error ? -err->error : -1; /* -1: ack */
	return MNL_CB_STOP;
}

static int on_done(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	*(int *)data = -1;
	return MNL_CB_STOP;
}

static int on_data(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

/* The errno of the answer (0 = ack or complete dump), -1 = no or malformed
 * answer. */
static int exchange(struct nlmsghdr *nlh)
{
	static char buf[131072];
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = on_error, [NLMSG_DONE] = on_done
	};
	int outcome = 0; /* 0 = still waiting, -1 = ack/done, > 0 = errno */

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		perror("genl_fuzz: send");
		return -1;
	}
	while (outcome == 0) {
		struct pollfd p = { mnl_socket_get_fd(nl), POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 1000) <= 0)
			return -1;
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -1;
		if (mnl_cb_run2(buf, n, seq, portid, on_data, &outcome, ctl,
				NLMSG_MIN_TYPE) == MNL_CB_ERROR &&
		    outcome == 0)
			return -1; /* libmnl rejected what the kernel sent */
	}
	return outcome < 0 ? 0 : outcome;
}

static uint16_t resolve_family(void)
{
	char buf[8192];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	struct nlattr *a;
	ssize_t n;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, V6G_GENL_NAME);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return 0;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n <= 0 || nlh->nlmsg_type != GENL_ID_CTRL)
		return 0;
	mnl_attr_for_each(
		a, nlh,
		sizeof(*g)) if (mnl_attr_get_type(a) ==
				CTRL_ATTR_FAMILY_ID) return mnl_attr_get_u16(a);
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[16384];
	long count = 10000, i, answers[256] = { 0 }, lost = 0, admitted = 0;
	int unprivileged = 0;
	unsigned long long seed = (unsigned long long)time(NULL);
	int opt, e;

	while ((opt = getopt(argc, argv, "n:s:i:u")) != -1) {
		switch (opt) {
		case 'n':
			count = atol(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'u':
			unprivileged = 1;
			break;
		case 'i':
			if (nifindex < 8)
				ifindexes[nifindex++] = (uint32_t)atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: genl_fuzz [-n COUNT] [-s SEED] "
					"[-i IFINDEX]... [-u]\n");
			return 2;
		}
	}
	rng = seed ? seed : 1;
	nl = mnl_socket_open(NETLINK_GENERIC);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("genl_fuzz: netlink");
		return 1;
	}
	portid = mnl_socket_get_portid(nl);
	family = resolve_family();
	if (!family) {
		fprintf(stderr, "genl_fuzz: family %s not found\n",
			V6G_GENL_NAME);
		return 1;
	}
	printf("genl_fuzz: seed %llu, %ld requests, family %u\n", seed, count,
	       family);
	for (i = 0; i < count; i++) {
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		struct genlmsghdr *g;
		int nattr = below(8), j, dump;

		nlh->nlmsg_type = family;
		nlh->nlmsg_seq = ++seq;
		g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
		/* Mostly real commands, dumps mostly where they exist: requests
		 * the family refuses up front reach no handler. */
		g->cmd = below(10) ? 1 + below(V6G_CMD_FLUSH) :
				     below(V6G_CMD_MAX + 3);
		if (g->cmd == V6G_CMD_GET_PORT ||
		    g->cmd == V6G_CMD_GET_BINDINGS)
			dump = below(8) != 0;
		else
			dump = below(20) == 0;
		nlh->nlmsg_flags =
			NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0);
		g->version = below(10) ? V6G_GENL_VERSION : below(4);
		for (j = 0; j < nattr; j++) {
			uint16_t t = below(8) ? 1 + below(V6G_A_MAX) :
						below(V6G_A_MAX + 20);

			if (t == V6G_A_BINDINGS || t == V6G_A_COUNTERS)
				put_bindings(nlh, t | NLA_F_NESTED);
			else
				put_attr(nlh, t, attr_size(t));
		}
		if (below(50) == 0) /* a length that cuts into the payload */
			nlh->nlmsg_len =
				MNL_NLMSG_HDRLEN +
				below(nlh->nlmsg_len - MNL_NLMSG_HDRLEN + 1);
		e = exchange(nlh);
		if (e < 0) {
			fprintf(stderr,
				"genl_fuzz: request %ld (cmd %u, %u bytes): no "
				"answer\n",
				i, g->cmd, nlh->nlmsg_len);
			lost++;
			if (lost > 3)
				break;
			continue;
		}
		answers[e & 255]++;
		if (unprivileged && e == 0 &&
		    !(nlh->nlmsg_flags & NLM_F_DUMP) &&
		    (g->cmd == V6G_CMD_SET_PORT || g->cmd == V6G_CMD_DEL_PORT ||
		     g->cmd == V6G_CMD_ADD_BINDINGS ||
		     g->cmd == V6G_CMD_DEL_BINDINGS ||
		     g->cmd == V6G_CMD_FLUSH)) {
			fprintf(stderr,
				"genl_fuzz: request %ld: unprivileged cmd %u "
				"accepted\n",
				i, g->cmd);
			admitted++;
		}
	}
	printf("genl_fuzz: answers:");
	for (e = 0; e < 256; e++)
		if (answers[e])
			printf(" %s=%ld", e ? strerror(e) : "ok", answers[e]);
	printf("; unanswered %ld", lost);
	if (unprivileged)
		printf("; unprivileged mutations accepted %ld", admitted);
	printf("\n");
	mnl_socket_close(nl);
	return lost || admitted ? 1 : 0;
}
