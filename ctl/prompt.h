/*
 * Questions to the operator, as patronictl's click prompts: the question
 * on stdout, the answer one line of stdin (so scripts can pipe answers in,
 * and --force skips the questions).  End of input means the operator
 * gave no answer: the caller aborts.
 */
#ifndef PGHERD_CTL_PROMPT_H
#define PGHERD_CTL_PROMPT_H

#include <stdbool.h>

/*
 * "question [default]: ".  An empty answer takes default_value; without
 * one (NULL) the question is asked again.  *answer is malloc'd.  False at
 * end of input.
 */
bool prompt_text(const char *question, const char *default_value, char **answer);

/* "question [y/N]: ": y or yes is true, n, no or an empty answer false;
 * anything else asks again.  False at end of input. */
bool prompt_confirm(const char *question, bool *yes);

#endif /* PGHERD_CTL_PROMPT_H */
