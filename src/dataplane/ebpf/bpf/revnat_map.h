/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kr_revnat, defined once for every BPF object that uses it: sock_lb.bpf.c
 * writes it (which socket was translated to which endpoint, for recvmsg and
 * getpeername), udp_abort.bpf.c reads it (only sockets translated from a
 * service are aborted).  Each object declares it; the loaders make them one
 * map (the pinned one).  Include after bpf_helpers.h and maps.h.
 */
#ifndef KROUTE_EBPF_REVNAT_MAP_H
#define KROUTE_EBPF_REVNAT_MAP_H

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KR_MAX_REVNAT);
	__type(key, struct kr_revnat_key);
	__type(value, struct kr_backend);
} kr_revnat SEC(".maps");

#endif
