/*
 * Times on pgherdctl's command line and in its output: --scheduled values
 * (ISO 8601, "now"), and the local timestamps patronictl prints before
 * the result of an action.  Pure but for the local time zone and clock.
 */
#ifndef PGHERD_CTL_SCHEDULE_H
#define PGHERD_CTL_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>

enum schedule_result {
	SCHEDULE_NOW = 0, /* "now" or empty: no schedule */
	SCHEDULE_AT,      /* iso holds the time with its offset */
	SCHEDULE_BAD,
};

/*
 * "2024-07-01T12:00", "2024-07-01 12:00:30.5+02:00", "2024-07-01T10:00Z",
 * "2024-07-01" (midnight): out gets Python's isoformat() of the time,
 * "2024-07-01T12:00:00+02:00"; without a zone the local one applies, as
 * patronictl does.
 */
enum schedule_result schedule_parse(const char *text, char *iso, size_t size);

/* Local "2024-07-01 12:00:00" (precision 0) or with ".123456"
 * (precision 6), as patronictl's timestamp(). */
void schedule_timestamp(char *buf, size_t size, int precision);

/* Local "2024-07-01T13:00", an hour from now: the example in prompts. */
void schedule_next_hour(char *buf, size_t size);

#endif /* PGHERD_CTL_SCHEDULE_H */
