/*
** policy.c — the table of policies. Adding one is adding a file in
** core/policy/ and a row here.
*/
#include "policy.h"

static const mm_policy_ops *const policies[] = {
  &mm_policy_aging,
};

const mm_policy_ops *policy_find(const mm_policy_spec *spec) {
  if (spec->custom_select) return &mm_policy_custom;
  const char *name = spec->name ? spec->name : "aging";
  for (size_t i = 0; i < sizeof policies / sizeof *policies; i++)
    if (strcmp(policies[i]->name, name) == 0) return policies[i];
  return NULL;
}
