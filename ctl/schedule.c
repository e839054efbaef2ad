/*
 * Scheduled times and timestamps; see schedule.h.
 */
#include "ctl/schedule.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* n digits at *p into *out; advances p. */
static bool digits(const char **p, int n, int *out)
{
	int value = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char) (*p)[i]))
			return false;
		value = value * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = value;
	return true;
}

static bool valid_date(int year, int month, int day)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	if (year < 1 || month < 1 || month > 12 || day < 1)
		return false;
	return day <= days[month - 1] + (month == 2 && leap ? 1 : 0);
}

enum schedule_result schedule_parse(const char *text, char *iso, size_t size)
{
	const char *p = text;
	int year, month, day, hour = 0, minute = 0, second = 0, micro = 0;
	bool has_zone = false;
	int offset_minutes = 0;

	if (text == NULL || text[0] == '\0' || strcmp(text, "now") == 0)
		return SCHEDULE_NOW;
	if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &month) || *p++ != '-' ||
	    !digits(&p, 2, &day) || !valid_date(year, month, day))
		return SCHEDULE_BAD;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &minute))
			return SCHEDULE_BAD;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &second))
				return SCHEDULE_BAD;
			if (*p == '.' || *p == ',') {
				int scale = 100000;

				p++;
				if (!isdigit((unsigned char) *p))
					return SCHEDULE_BAD;
				for (; isdigit((unsigned char) *p); p++) {
					micro += (*p - '0') * scale;
					scale /= 10;
				}
			}
		}
		if (hour > 23 || minute > 59 || second > 59)
			return SCHEDULE_BAD;
		if (*p == 'Z' || *p == 'z') {
			p++;
			has_zone = true;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;
			int zone_hours, zone_minutes = 0;

			if (!digits(&p, 2, &zone_hours))
				return SCHEDULE_BAD;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char) *p) && !digits(&p, 2, &zone_minutes))
				return SCHEDULE_BAD;
			if (zone_hours > 23 || zone_minutes > 59)
				return SCHEDULE_BAD;
			has_zone = true;
			offset_minutes = sign * (zone_hours * 60 + zone_minutes);
		}
	}
	if (*p != '\0')
		return SCHEDULE_BAD;
	if (!has_zone) {
		/* The local zone at that moment (DST included). */
		struct tm local = { .tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
				    .tm_hour = hour, .tm_min = minute, .tm_sec = second,
				    .tm_isdst = -1 };
		if (mktime(&local) == (time_t) -1)
			return SCHEDULE_BAD;
		offset_minutes = (int) (local.tm_gmtoff / 60);
	}
	int absolute = abs(offset_minutes);
	char fraction[16] = "";
	if (micro > 0)
		snprintf(fraction, sizeof(fraction), ".%06d", micro);
	if (snprintf(iso, size, "%04d-%02d-%02dT%02d:%02d:%02d%s%c%02d:%02d", year, month, day,
		     hour, minute, second, fraction, offset_minutes < 0 ? '-' : '+', absolute / 60,
		     absolute % 60) >= (int) size)
		return SCHEDULE_BAD;
	return SCHEDULE_AT;
}

void schedule_timestamp(char *buf, size_t size, int precision)
{
	struct timeval now;
	struct tm local;
	char whole[32];

	gettimeofday(&now, NULL);
	localtime_r(&now.tv_sec, &local);
	strftime(whole, sizeof(whole), "%Y-%m-%d %H:%M:%S", &local);
	if (precision > 0)
		snprintf(buf, size, "%s.%06ld", whole, (long) now.tv_usec);
	else
		snprintf(buf, size, "%s", whole);
}

void schedule_next_hour(char *buf, size_t size)
{
	time_t later = time(NULL) + 3600;
	struct tm local;

	localtime_r(&later, &local);
	strftime(buf, size, "%Y-%m-%dT%H:%M", &local);
}
