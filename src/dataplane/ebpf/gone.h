/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The UDP endpoints a sync removed (pure): those udp_abort.h aborts the
 * connected sockets of.  An endpoint is gone when it was in a slot of a UDP
 * endpoint set before the sync and is in no slot of any UDP set after it.
 * Only the slots the diff deletes or overwrites are candidates, so a sync
 * that removes no endpoint costs nothing here.
 */
#ifndef KROUTE_DATAPLANE_EBPF_GONE_H
#define KROUTE_DATAPLANE_EBPF_GONE_H

#include <stddef.h>

#include "dataplane/ebpf/plan.h"

/* *ret (free()d by the caller; NULL when none): sorted, each once.  Returns how many. */
size_t ebpf_gone_udp(const struct ebpf_plan *from, const struct ebpf_plan *to,
		     const struct ebpf_diff *df, struct kr_backend **ret);

#endif
