/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rules that read a Service as a whole, whatever the node: session
 * affinity against the endpoints' lifetime (KR007), fields that do
 * nothing (KR008), and the scheduler annotations: invalid (KR010), or not
 * implemented by the chosen data plane (KR009).
 */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "lint/lint_internal.h"

#define ANNOTATION_TOPOLOGY_MODE "service.kubernetes.io/topology-mode"

bool lint_svc_external(const struct service *svc)
{
	if (svc->type == SVC_NODE_PORT || svc->type == SVC_LOAD_BALANCER || svc->n_external_ips)
		return true;
	for (size_t i = 0; i < svc->n_lb_ingress; i++)
		if (!svc->lb_ingress[i].ip_mode_proxy)
			return true;
	for (size_t i = 0; i < svc->n_ports; i++)
		if (svc->ports[i].node_port)
			return true;
	return false;
}

static void no_effect(struct lint_ctx *x, const struct service *svc, char *message)
{
	lint_add(x, LINT_FIELD_NO_EFFECT, LINT_WARNING, svc->key, "", NULL, 0, message);
}

/* "3h", "10m", "45s": the largest unit that divides seconds exactly. */
static char *duration_text(uint32_t s)
{
	if (s && s % 3600 == 0)
		return xasprintf("%uh", s / 3600);
	if (s && s % 60 == 0)
		return xasprintf("%um", s / 60);
	return xasprintf("%us", s);
}

static void affinity_rule(struct lint_ctx *x, const struct service *svc)
{
	char *timeout, *lifetime;

	if (!svc->affinity_client_ip || svc->headless || svc->type == SVC_EXTERNAL_NAME ||
	    svc->affinity_timeout <= x->o->endpoint_lifetime_s)
		return;
	timeout = duration_text(svc->affinity_timeout);
	lifetime = duration_text(x->o->endpoint_lifetime_s);
	lint_add(x, LINT_AFFINITY_OUTLIVES, LINT_INFO, svc->key, "", NULL, 0,
		 xasprintf("sessionAffinity ClientIP keeps a client on its endpoint for %s after its last new connection%s, longer than endpoints are expected to live (%s): after a scale-out new endpoints get no returning client for up to %s, so load stays uneven",
			   timeout, svc->affinity_timeout == AFFINITY_DEFAULT_TIMEOUT ? " (the default)" : "",
			   lifetime, timeout));
	free(timeout);
	free(lifetime);
}

static void fields_no_effect(struct lint_ctx *x, const struct service *svc)
{
	bool programmed = !svc->headless && svc->type != SVC_EXTERNAL_NAME;
	bool external = lint_svc_external(svc);
	const char *topo = kv_get(&svc->annotations, ANNOTATION_TOPOLOGY_MODE);

	if (!programmed) {
		const char *what = svc->headless ? "a headless service (clusterIP: None)"
						 : "an ExternalName service";

		if (svc->itp == POLICY_LOCAL || svc->etp == POLICY_LOCAL)
			no_effect(x, svc, xasprintf("%s is Local on %s: kube-proxy programs nothing for it, clients reach the pods through DNS",
						    svc->itp == POLICY_LOCAL ? "internalTrafficPolicy" : "externalTrafficPolicy", what));
		if (svc->affinity_client_ip)
			no_effect(x, svc, xasprintf("sessionAffinity ClientIP on %s: kube-proxy programs nothing for it, so no client is kept on a pod",
						    what));
		return;
	}
	if (svc->etp == POLICY_LOCAL && !external)
		no_effect(x, svc, xasprintf("externalTrafficPolicy Local on a %s service without externalIPs: nothing outside the cluster reaches it, so the field changes nothing (the API server refuses it); internalTrafficPolicy is the field for traffic from pods",
					    svc_type_name(svc->type)));
	if (!svc->affinity_client_ip && svc->affinity_timeout != AFFINITY_DEFAULT_TIMEOUT)
		no_effect(x, svc, xstrdup("sessionAffinityConfig.clientIP.timeoutSeconds is set but sessionAffinity is not ClientIP, so no client is kept on an endpoint"));
	if (svc->n_lb_source_ranges && svc->type != SVC_LOAD_BALANCER)
		no_effect(x, svc, xasprintf("loadBalancerSourceRanges on a %s service: the ranges filter only load-balancer IPs, so every client is accepted",
					    svc_type_name(svc->type)));
	if (svc->itp == POLICY_LOCAL && !external && (svc->traffic_distribution || topo))
		no_effect(x, svc, xasprintf("%s with internalTrafficPolicy Local: topology applies only to cluster endpoints, and this service uses only local ones",
					    svc->traffic_distribution ? "trafficDistribution" : ANNOTATION_TOPOLOGY_MODE));
}

/* A scheduler flag is accepted whatever the scheduler (as ipvsadm) and ignored by the others. */
static void flags_no_effect(struct lint_ctx *x, const struct service *svc,
			    const struct lb_choice *lb)
{
	const struct sched_config *cfg = &lb->cfg;
	const char *s = lb->sched_name;

	if ((cfg->flags & (SCHED_F_SH_FALLBACK | SCHED_F_SH_PORT)) && !streq(s, "sh"))
		no_effect(x, svc, xasprintf("%s: the sh-* flags apply only to scheduler sh, not %s",
					    ANNOTATION_SCHEDULER_FLAGS, s));
	if ((cfg->flags & (SCHED_F_MH_FALLBACK | SCHED_F_MH_PORT)) && !streq(s, "mh"))
		no_effect(x, svc, xasprintf("%s: the mh-* flags apply only to scheduler mh, not %s",
					    ANNOTATION_SCHEDULER_FLAGS, s));
	if (cfg->maglev_table_size && !streq(s, "maglev"))
		no_effect(x, svc, xasprintf("%s: maglev-table-size applies only to scheduler maglev, not %s",
					    ANNOTATION_SCHEDULER_FLAGS, s));
	if (cfg->mh_table_size && !streq(s, "mh"))
		no_effect(x, svc, xasprintf("%s: mh-table-size applies only to scheduler mh, not %s",
					    ANNOTATION_SCHEDULER_FLAGS, s));
}

static void scheduler_rules(struct lint_ctx *x, const struct service *svc)
{
	const char *ann_sched = kv_get(&svc->annotations, ANNOTATION_SCHEDULER);
	const char *ann_weights = kv_get(&svc->annotations, ANNOTATION_ENDPOINT_WEIGHTS);
	const char *ann_flags = kv_get(&svc->annotations, ANNOTATION_SCHEDULER_FLAGS);
	const struct sched_info *info;
	struct lb_choice lb;

	if (svc->headless || svc->type == SVC_EXTERNAL_NAME)
		return;
	lb_choose(svc, &x->o->po.lb, &lb);
	if (lb.problem) {
		lint_add(x, LINT_SCHED_ANNOTATION_INVALID, LINT_ERROR, svc->key, "", NULL, 0,
			 xasprintf("%s; the service uses the default scheduler %s instead", lb.problem,
				   lb.sched_name));
		lb_choice_done(&lb);
		return;
	}
	info = sched_info_find(lb.sched_name);
	/* kroute's iptables mode renders kube-proxy's rules: a uniform random choice, no weights. */
	if (streq(x->o->mode, "iptables")) {
		if (ann_sched && !streq(lb.sched_name, "random"))
			lint_add(x, LINT_SCHED_NOT_HONOURED, LINT_WARNING, svc->key, "", NULL, 0,
				 xasprintf("%s: %s is not implemented by the iptables mode, which picks an endpoint at random (kube-proxy's rules), so connections are spread as by random",
					   ANNOTATION_SCHEDULER, lb.sched_name));
		if (ann_weights)
			lint_add(x, LINT_SCHED_NOT_HONOURED, LINT_WARNING, svc->key, "", NULL, 0,
				 xasprintf("%s is not implemented by the iptables mode: every endpoint gets the same share, and a weight of 0 does not drain an endpoint",
					   ANNOTATION_ENDPOINT_WEIGHTS));
		if (ann_flags && *ann_flags)
			lint_add(x, LINT_SCHED_NOT_HONOURED, LINT_WARNING, svc->key, "", NULL, 0,
				 xasprintf("%s is not implemented by the iptables mode", ANNOTATION_SCHEDULER_FLAGS));
	} else if (streq(x->o->mode, "nftables")) {
		/*
		 * nf_tables runs random (numgen, weights as slots) and maglev
		 * (the scheduler library's table under jhash) per packet; any
		 * other scheduler falls back to random (src/dataplane/nftables).
		 */
		if (!streq(lb.sched_name, "random") && !streq(lb.sched_name, "maglev"))
			lint_add(x, LINT_SCHED_NOT_HONOURED, LINT_WARNING, svc->key, "", NULL, 0,
				 xasprintf("%s: %s is not implemented by the nftables mode, which picks an endpoint at random (numgen)%s, so connections are spread as by random",
					   ANNOTATION_SCHEDULER, lb.sched_name,
					   ann_weights ? " in proportion to the endpoint weights" : ""));
		else
			flags_no_effect(x, svc, &lb);
	} else {
		/* The IPVS mode runs the kernel's schedulers; kroute's own become the nearest. */
		if (streq(x->o->mode, "ipvs") && ann_sched && !streq(sched_ipvs_name(lb.sched_name), lb.sched_name))
			lint_add(x, LINT_SCHED_NOT_HONOURED, LINT_WARNING, svc->key, "", NULL, 0,
				 xasprintf("%s: %s is not an IPVS scheduler; the ipvs mode uses %s instead",
					   ANNOTATION_SCHEDULER, lb.sched_name, sched_ipvs_name(lb.sched_name)));
		if (ann_weights && info && !(info->caps & SCHED_CAP_WEIGHTS))
			no_effect(x, svc, xasprintf("%s: scheduler %s ignores weights other than 0 (0 still drains an endpoint)",
						    ANNOTATION_ENDPOINT_WEIGHTS, lb.sched_name));
		flags_no_effect(x, svc, &lb);
	}
	lb_choice_done(&lb);
}

void lint_service_rules(struct lint_ctx *x, const struct service *svc)
{
	affinity_rule(x, svc);
	fields_no_effect(x, svc);
	scheduler_rules(x, svc);
}
