// SPDX-License-Identifier: GPL-2.0
/*
 * Binding table: (ifindex, vlan, mac, ip6) tuples a port may source.
 * A hit is the fast path; a miss punts the frame to the inspector.
 */
#include "v6g.h"

/* Caps memory per namespace; inserts beyond it fail with -E2BIG. */
#define V6G_BINDINGS_MAX_BUCKETS (1U << 20)

/*
 * Tenants choose their source addresses and MACs, so the binding hash is
 * keyed siphash with a random key (rhashtable's seed is not used). The key
 * struct is 32 zero-padded, 8-byte aligned bytes: hash it as four words.
 */
static u32 v6g_binding_hash(const void *data, u32 len, u32 seed)
{
	const u64 *w = data;

	BUILD_BUG_ON(sizeof(struct v6g_binding_key) != 4 * sizeof(u64));
	return (u32)siphash_4u64(w[0], w[1], w[2], w[3], &v6g_hash_key);
}

static const struct rhashtable_params v6g_binding_params = {
	.key_len = sizeof(struct v6g_binding_key),
	.key_offset = offsetof(struct v6g_binding, key),
	.head_offset = offsetof(struct v6g_binding, node),
	.hashfn = v6g_binding_hash,
	.max_size = V6G_BINDINGS_MAX_BUCKETS,
	.automatic_shrinking = true,
};

int v6g_bindings_init(struct v6g_net *vn)
{
	return rhashtable_init(&vn->bindings, &v6g_binding_params);
}

static void v6g_binding_free_now(void *ptr, void *arg)
{
	kfree(ptr);
}

void v6g_bindings_destroy(struct v6g_net *vn)
{
	rhashtable_free_and_destroy(&vn->bindings, v6g_binding_free_now, NULL);
}

bool v6g_binding_known(struct v6g_net *vn, const struct v6g_binding_key *key)
{
	return rhashtable_lookup(&vn->bindings, key, v6g_binding_params);
}

/* Adding a binding that exists is not an error: batches are idempotent. */
int v6g_binding_add(struct v6g_net *vn, const struct v6g_binding_key *key)
{
	struct v6g_binding *b, *old;

	lockdep_assert_held(&vn->lock);

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->key = *key;
	old = rhashtable_lookup_get_insert_fast(&vn->bindings, &b->node,
						v6g_binding_params);
	if (old) {
		kfree(b);
		return IS_ERR(old) ? PTR_ERR(old) : 0;
	}
	return 0;
}

/* Removing a binding that is absent is not an error either. */
int v6g_binding_del(struct v6g_net *vn, const struct v6g_binding_key *key)
{
	struct v6g_binding *b;
	int err;

	lockdep_assert_held(&vn->lock);

	b = rhashtable_lookup_fast(&vn->bindings, key, v6g_binding_params);
	if (!b)
		return 0;
	err = rhashtable_remove_fast(&vn->bindings, &b->node,
				     v6g_binding_params);
	if (err)
		return err;
	kfree_rcu(b, rcu);
	return 0;
}

/* Remove the bindings of one port, or all of them when @ifindex is 0. */
void v6g_bindings_flush(struct v6g_net *vn, u32 ifindex)
{
	struct rhashtable_iter iter;
	struct v6g_binding *b;

	lockdep_assert_held(&vn->lock);

	rhashtable_walk_enter(&vn->bindings, &iter);
	rhashtable_walk_start(&iter);
	while ((b = rhashtable_walk_next(&iter))) {
		if (IS_ERR(b))
			continue;
		if (ifindex && b->key.ifindex != ifindex)
			continue;
		if (!rhashtable_remove_fast(&vn->bindings, &b->node,
					    v6g_binding_params))
			kfree_rcu(b, rcu);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
}
