/* SPDX-License-Identifier: MIT */
/*
 * verify.h -- making a table that was not closed cleanly safe to serve.
 */
#ifndef SHMC_VERIFY_H
#define SHMC_VERIFY_H

#include "store.h"

void verify_table(struct store *s, struct verify_report *r);

#endif /* SHMC_VERIFY_H */
