/*
 * libFuzzer harness for dcs/znode: every decoder gets every input, and
 * whatever a decoder accepts must survive our own encoder:
 *
 *   decode(x) ok  =>  encode ok, decode(encode) ok, and
 *                     encode(decode(encode)) == encode   (stable bytes)
 *
 * The agent rewrites its member znode when the bytes change, so an
 * unstable encoding would mean a write every cycle; a decode that accepts
 * what the encoder then refuses would mean a znode we read but cannot copy.
 * A violated invariant calls abort() so libFuzzer reports it as a crash.
 *
 * Build and run (see the module brief):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -std=c11 -D_GNU_SOURCE \
 *       test/fuzz/fuzz_znode.c dcs/znode.c $(pkg-config --cflags --libs jansson) \
 *       -o fuzz_znode
 *   ./fuzz_znode -max_total_time=60 corpus/
 *
 * Results feed `sink` so that -O1 cannot drop the calls as dead code.
 */
#include "dcs/znode.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile int sink;

static void check(int condition, const char *what)
{
	if (!condition) {
		fprintf(stderr, "invariant violated: %s\n", what);
		abort();
	}
}

/* encode -> decode -> encode must reproduce the first encoding. */
#define ROUND_TRIP(type, decode, encode, clear, first)                                        \
	do {                                                                                  \
		type again_;                                                                  \
		char err_[ZNODE_ERR_MAX];                                                     \
		char *second_;                                                                \
		check(decode(first, (int)strlen(first), &again_, err_, sizeof(err_)),        \
		      #decode " rejects our own encoding");                                  \
		second_ = encode(&again_, err_, sizeof(err_));                                \
		check(second_ != NULL, #encode " fails on a decoded copy");                   \
		check(strcmp(first, second_) == 0, #encode " is not stable");                 \
		free(second_);                                                                \
		clear(&again_);                                                               \
	} while (0)

static void fuzz_member(const char *d, int len)
{
	struct member_status s;
	char err[ZNODE_ERR_MAX];
	char *text;

	if (!member_status_decode(d, len, &s, err, sizeof(err))) {
		check(err[0] != '\0', "member: failure without a reason");
		return;
	}
	sink += member_status_role(&s) + member_status_nofailover(&s) +
		(int)member_status_failover_priority(&s);
	/* decoded members may lack required fields: only what encodes is
	 * checked further */
	text = member_status_encode(&s, err, sizeof(err));
	if (text != NULL) {
		ROUND_TRIP(struct member_status, member_status_decode, member_status_encode,
			   member_status_clear, text);
		check(member_status_equal(&s, &s), "member: not equal to itself");
		free(text);
	}
	member_status_clear(&s);
}

static char *encode_config_json(const struct znode_config *c, char *err, size_t err_size)
{
	return znode_config_encode(c->json, err, err_size);
}

static void fuzz_config(const char *d, int len)
{
	struct znode_config c;
	char err[ZNODE_ERR_MAX];
	char *text;

	if (!znode_config_decode(d, len, &c, err, sizeof(err))) {
		check(err[0] != '\0', "config: failure without a reason");
		return;
	}
	sink += (int)c.ttl + c.use_slots;
	text = znode_config_encode(c.json, err, sizeof(err));
	check(text != NULL, "config: decoded but not encodable");
	ROUND_TRIP(struct znode_config, znode_config_decode, encode_config_json, znode_config_clear,
		   text);
	free(text);
	znode_config_clear(&c);
}

static void fuzz_failover(const char *d, int len)
{
	struct znode_failover f;
	char err[ZNODE_ERR_MAX];
	char *text;

	if (!znode_failover_decode(d, len, &f, err, sizeof(err))) {
		check(err[0] != '\0', "failover: failure without a reason");
		return;
	}
	sink += znode_failover_is_empty(&f) + (int)f.scheduled_at_ms;
	text = znode_failover_encode(&f, err, sizeof(err));
	check(text != NULL, "failover: decoded but not encodable");
	ROUND_TRIP(struct znode_failover, znode_failover_decode, znode_failover_encode,
		   znode_failover_clear, text);
	free(text);
	znode_failover_clear(&f);
}

static void fuzz_sync(const char *d, int len)
{
	struct znode_sync s;
	char err[ZNODE_ERR_MAX];
	char *text;

	if (!znode_sync_decode(d, len, &s, err, sizeof(err))) {
		check(err[0] != '\0', "sync: failure without a reason");
		return;
	}
	sink += (int)s.n_standbys;
	text = znode_sync_encode(&s, err, sizeof(err));
	check(text != NULL, "sync: decoded but not encodable");
	ROUND_TRIP(struct znode_sync, znode_sync_decode, znode_sync_encode, znode_sync_clear, text);
	free(text);
	znode_sync_clear(&s);
}

static void fuzz_status(const char *d, int len)
{
	struct znode_status s;
	char err[ZNODE_ERR_MAX];
	char *text;

	if (!znode_status_decode(d, len, &s, err, sizeof(err))) {
		check(err[0] != '\0', "status: failure without a reason");
		return;
	}
	sink += (int)s.optime + (int)s.n_slots;
	text = znode_status_encode(&s, err, sizeof(err));
	/* duplicate slot names collapse in JSON objects, so they cannot
	 * come out of a decode */
	check(text != NULL, "status: decoded but not encodable");
	ROUND_TRIP(struct znode_status, znode_status_decode, znode_status_encode,
		   znode_status_clear, text);
	free(text);
	znode_status_clear(&s);
}

static void fuzz_history(const char *d, int len)
{
	struct znode_history h;
	char err[ZNODE_ERR_MAX];
	char *text;

	if (!znode_history_decode(d, len, &h, err, sizeof(err))) {
		check(err[0] != '\0', "history: failure without a reason");
		return;
	}
	sink += (int)h.n_lines;
	text = znode_history_encode(&h, err, sizeof(err));
	check(text != NULL, "history: decoded but not encodable");
	ROUND_TRIP(struct znode_history, znode_history_decode, znode_history_encode,
		   znode_history_clear, text);
	free(text);
	znode_history_clear(&h);
}

static void fuzz_plain(const char *d, int len)
{
	char name[ZNODE_NAME_MAX + 1], err[ZNODE_ERR_MAX];
	bool bootstrapping;
	uint64_t sysid;
	int64_t lsn;

	if (znode_leader_decode(d, len, name, sizeof(name), err, sizeof(err)))
		check(znode_name_is_valid(name) && (int)strlen(name) == len,
		      "leader: accepted an invalid name");
	if (znode_initialize_decode(d, len, &bootstrapping, &sysid, err, sizeof(err)) &&
	    !bootstrapping) {
		char buf[32];
		uint64_t again;

		check(znode_initialize_encode(buf, sizeof(buf), sysid), "initialize: encode");
		check(znode_initialize_decode(buf, (int)strlen(buf), &bootstrapping, &again, err,
					      sizeof(err)) &&
			      again == sysid,
		      "initialize: round trip");
	}
	if (znode_optime_decode(d, len, &lsn, err, sizeof(err)))
		sink += (int)lsn;
}

/* Inputs as C strings: names, candidates, paths. */
static void fuzz_names(const char *s)
{
	char member[ZNODE_NAME_MAX + 1];
	char base[ZNODE_PATH_MAX];
	long long seq;

	sink += znode_name_is_valid(s);
	if (znode_candidate_parse(s, member, sizeof(member), &seq)) {
		char prefix[ZNODE_NAME_MAX + 2], rebuilt[ZNODE_CANDIDATE_NAME_MAX + 16];

		check(znode_candidate_prefix(prefix, sizeof(prefix), member), "candidate: prefix");
		snprintf(rebuilt, sizeof(rebuilt), "%s%010lld", prefix, seq);
		check(strcmp(rebuilt, s) == 0, "candidate: parse does not invert prefix");
	}
	if (znode_base_path(base, sizeof(base), s, "batman")) {
		char path[ZNODE_PATH_MAX];

		check(base[0] == '/' && strstr(base, "//") == NULL, "base path: slashes");
		if (znode_path(path, sizeof(path), base, s))
			check(strncmp(path, base, strlen(base)) == 0, "path: prefix");
	}
	if (znode_base_path(base, sizeof(base), "service", s))
		check(znode_name_is_valid(s), "base path: accepted an invalid scope");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	int len = size > INT_MAX ? INT_MAX : (int)size;
	char *s;

	fuzz_member(d, len);
	fuzz_config(d, len);
	fuzz_failover(d, len);
	fuzz_sync(d, len);
	fuzz_status(d, len);
	fuzz_history(d, len);
	fuzz_plain(d, len);

	s = malloc(size + 1);
	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		fuzz_names(s);
		free(s);
	}
	return 0;
}
