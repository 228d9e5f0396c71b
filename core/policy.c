/*
** policy.c — the table of policies. Adding one is adding a file in
** core/policy/ and a row here.
*/
#include "policy.h"

static const mm_policy_ops *const policies[] = {
  &mm_policy_aging,
  &mm_policy_fifo,
  &mm_policy_clock,
  &mm_policy_lru,
  &mm_policy_random,
  &mm_policy_wsclock,
  &mm_policy_opt,
};

const mm_policy_ops *policy_find(const mm_policy_spec *spec) {
  if (spec->custom_select) return &mm_policy_custom;
  const char *name = spec->name ? spec->name : "aging";
  for (size_t i = 0; i < sizeof policies / sizeof *policies; i++)
    if (strcmp(policies[i]->name, name) == 0) return policies[i];
  return NULL;
}
