/* SPDX-License-Identifier: Apache-2.0 */
/* The data-plane registry; see dataplane.h. */
#include "dataplane/dataplane.h"

#include "core/util.h"

extern const struct dataplane_ops dp_iptables_ops;
extern const struct dataplane_ops dp_userspace_ops;

const struct dataplane_ops *const dataplane_all[] = {
	&dp_iptables_ops,
	&dp_userspace_ops,
	NULL,
};

const struct dataplane_ops *dataplane_find(const char *mode)
{
	for (size_t i = 0; dataplane_all[i]; i++)
		if (streq(dataplane_all[i]->name, mode))
			return dataplane_all[i];
	return NULL;
}
