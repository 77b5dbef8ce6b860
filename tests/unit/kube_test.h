/* SPDX-License-Identifier: Apache-2.0 */
/* What test_kube.c and test_kube_list.c share: a list item, and a report search. */
#ifndef KROUTE_TEST_KUBE_TEST_H
#define KROUTE_TEST_KUBE_TEST_H

#include <stdbool.h>
#include <string.h>

#include "core/diag.h"

#define SVC_ITEM(name, ip)                                                                 \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":" \
	"\"" ip "\",\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]}}"

/* Some report in d holds text. */
static inline bool diag_has(const struct diag *d, const char *text)
{
	for (size_t i = 0; i < d->n; i++) {
		char buf[2048];

		diag_msg_format(&d->msgs[i], buf, sizeof(buf));
		if (strstr(buf, text))
			return true;
	}
	return false;
}

#endif
