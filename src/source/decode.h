/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding doc trees into model objects, with the API server's validation
 * where kroute depends on it (types, ranges, IPs, names, required fields).
 * Pure: no I/O; every problem goes to the diag with the file, the line the
 * parser reported and the field path.
 */
#ifndef KROUTE_SOURCE_DECODE_H
#define KROUTE_SOURCE_DECODE_H

#include "core/diag.h"
#include "model/model.h"
#include "source/doc.h"

/*
 * Decodes one object and adds it to c.  Unknown kinds are skipped with a
 * note.  Returns 0 (added or skipped), or -EINVAL when the object is invalid
 * (nothing is added; errors are in d).
 */
int decode_object(const struct doc *obj, const char *file, struct cluster *c, struct diag *d);

#endif
