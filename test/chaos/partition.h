/*
 * Network partitions for the chaos suite, scoped to the test's own
 * processes and ports.
 *
 * Everything runs on 127.0.0.1 in the root network namespace, so a rule on
 * ports alone cannot tell the primary's connection to ZooKeeper from a
 * replica's (their source ports are ephemeral and change on every
 * reconnect), and the harness writes ZooKeeper's and PostgreSQL's
 * configuration for 127.0.0.1, so they cannot be moved into namespaces.
 * Instead each process that a fault may cut off (one ZooKeeper server, or
 * one member: its agent with the PostgreSQL it starts) runs in its own
 * cgroup v2, and a cut is a packet filter attached to that cgroup: a
 * BPF_PROG_TYPE_CGROUP_SKB program on ingress and egress that drops the
 * IPv4/IPv6 packets of the group's sockets whose remote port, or local
 * port, is in a given set.  It needs nothing but the kernel (no nftables or
 * iptables package), it sees every socket of those processes whatever its
 * ephemeral port, and it cannot touch anybody else's traffic: no other
 * process is in these cgroups.  Unix-domain sockets are not filtered, so the
 * test's own connections (through each member's socket directory) still see
 * every member.
 *
 * The cgroups are /<cgroup2 mount>/pgherd-chaos-<pid>/<name>.  Cleanup
 * detaches every filter and kills what is left in the groups (only
 * processes this run started: agents' orphaned postmasters, say), then
 * removes them; it runs on teardown, at exit and on fatal signals, and a
 * run first removes the groups left by runs whose process is gone.
 */
#ifndef PGHERD_TEST_CHAOS_PARTITION_H
#define PGHERD_TEST_CHAOS_PARTITION_H

#include <stdbool.h>
#include <stddef.h>

#define PARTITION_MAX_GROUPS 8
#define PARTITION_MAX_PORTS 32

/* Find the cgroup2 mount, sweep leftovers of dead runs, create one group
 * per name (at most PARTITION_MAX_GROUPS) and install the cleanup handlers.
 * False, with the reason in why, when this machine cannot do it (not root,
 * no cgroup2, no BPF). */
bool partition_setup(const char *const *names, int count, char *why, size_t why_size);

/* <group>/cgroup.procs: a process that writes its pid there joins the group
 * (and its children after it).  NULL for an unknown name. */
const char *partition_procs_path(const char *name);

/* Drop the group's packets whose remote port is in remote_ports or whose
 * local port is in local_ports (both directions).  Replaces a cut already
 * in place on that group. */
bool partition_cut(const char *name, const int *remote_ports, int n_remote,
		   const int *local_ports, int n_local);
/* Remove the group's cut (no-op when there is none). */
bool partition_heal(const char *name);
void partition_heal_all(void);
/* Names of the groups cut now, for messages ("" if none). */
const char *partition_describe(void);

/* Send sig to every process in every group (SIGCONT before a teardown). */
void partition_signal_all(int sig);
/* Pids in one group, up to max; returns how many. */
int partition_pids(const char *name, int *pids, int max);

/* Heal, kill what is left in the groups, remove them.  Idempotent. */
void partition_teardown(void);

#endif
