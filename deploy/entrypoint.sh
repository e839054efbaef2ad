#!/bin/sh
# The container image's entrypoint.  It fills in pgherd's environment from
# what only the container knows (its pod's name and address, its hostname),
# then replaces itself with pgherd, so that pgherd is PID 1: it receives the
# stop signal directly and reaps PostgreSQL's orphans.
#
#   entrypoint.sh                    pgherd with /etc/pgherd/pgherd.yml (or
#                                    $PGHERD_ENTRYPOINT_CONFIG) when it exists,
#                                    else with the environment alone
#   entrypoint.sh FILE.yml           pgherd with that file
#   entrypoint.sh --OPTION ...       pgherd with those options (--validate FILE)
#   entrypoint.sh COMMAND ...        any other command (pgherdctl, psql, sh)
#
# A variable that is already set, as PGHERD_X or as Patroni's PATRONI_X,
# always wins.  Otherwise:
#
#   PGHERD_NAME                        <- POD_NAME
#   PGHERD_RESTAPI_CONNECT_ADDRESS     <- POD_IP:<REST API port, 8008>
#   PGHERD_POSTGRESQL_CONNECT_ADDRESS  <- POD_IP:<PostgreSQL port, 5432>
#
# When pgherd runs with the environment alone, the container's own facts
# stand in for what a file would say (with a file they would override it):
#
#   PGHERD_NAME                        <- HOSTNAME, else `hostname`
#   PGHERD_*_CONNECT_ADDRESS           <- the first address of `hostname -i`
#
# and pgherd gets a file of container defaults, $TMPDIR/pgherd-defaults.yml,
# which every variable overrides: listening on all addresses (8008, 5432),
# the data directory on the image's volume, and pg_hba lines that let members
# and clients in with a password (pgherd has no variable for pg_hba).
#
# PGHERD_ENTRYPOINT_DRY_RUN=1 prints the PGHERD_/PATRONI_ environment
# (passwords hidden) and the command instead of running it.
set -eu

default_config=${PGHERD_ENTRYPOINT_CONFIG:-/etc/pgherd/pgherd.yml}
defaults=${TMPDIR:-/tmp}/pgherd-defaults.yml

# Set in pgherd's eyes: pgherd treats an empty variable as unset.
is_set() {
	eval "pgherd_value=\${PGHERD_$1:-} patroni_value=\${PATRONI_$1:-}"
	# shellcheck disable=SC2154 # assigned by the eval above
	[ -n "$pgherd_value" ] || [ -n "$patroni_value" ]
}

set_default() {
	if ! is_set "$1" && [ -n "$2" ]; then
		export "PGHERD_$1=$2"
	fi
}

# The value pgherd will see for a key: PGHERD_X wins over PATRONI_X.
value_of() {
	eval "printf '%s' \"\${PGHERD_$1:-\${PATRONI_$1:-}}\""
}

# host:port, with an IPv6 address in brackets.
address() {
	case "$1" in
	*:*) printf '[%s]:%s' "$1" "$2" ;;
	*) printf '%s:%s' "$1" "$2" ;;
	esac
}

# The port of a listen address (ip[,ip]:port), else the default.
port_of() {
	listen=$(value_of "$1")
	case "$listen" in
	*:*) printf '%s' "${listen##*:}" ;;
	*) printf '%s' "$2" ;;
	esac
}

write_defaults() {
	cat > "$defaults" <<'YAML'
# Written by the pgherd image's entrypoint for a run without a configuration
# file.  Every PGHERD_* (or PATRONI_*) variable overrides what is here.
restapi:
  listen: 0.0.0.0:8008
postgresql:
  listen: 0.0.0.0:5432
  data_dir: /var/lib/postgresql/data/pgdata
  pg_hba:
    - host replication all all scram-sha-256
    - host all all all scram-sha-256
YAML
}

config=""
case "${1:-}" in
"")
	if [ -f "$default_config" ]; then
		config=$default_config
		set -- pgherd "$config"
	else
		write_defaults
		set -- pgherd "$defaults"
	fi
	;;
*.yml | *.yaml)
	config=$1
	set -- pgherd "$@"
	;;
-*)
	for argument in "$@"; do
		case "$argument" in *.yml | *.yaml) config=$argument ;; esac
	done
	set -- pgherd "$@"
	;;
*)
	if [ -f "$default_config" ]; then
		config=$default_config
	fi
	;;
esac

set_default NAME "${POD_NAME:-}"
if [ -z "$config" ]; then
	# shellcheck disable=SC3028 # HOSTNAME comes from Docker or Kubernetes, not the shell
	set_default NAME "${HOSTNAME:-$(hostname 2>/dev/null || true)}"
fi

ip=${POD_IP:-}
if [ -z "$ip" ] && [ -z "$config" ]; then
	# hostname -i may list several addresses; the first is the container's own.
	ip=$(hostname -i 2>/dev/null || true)
	ip=${ip%% *}
fi
if [ -n "$ip" ]; then
	set_default RESTAPI_CONNECT_ADDRESS "$(address "$ip" "$(port_of RESTAPI_LISTEN 8008)")"
	set_default POSTGRESQL_CONNECT_ADDRESS "$(address "$ip" "$(port_of POSTGRESQL_LISTEN 5432)")"
fi

if [ "${PGHERD_ENTRYPOINT_DRY_RUN:-}" = 1 ]; then
	env | grep -E '^(PGHERD|PATRONI)_' | grep -v '^PGHERD_ENTRYPOINT_' |
		sed -E 's/^([A-Z_]*PASSWORD)=.*/\1=(hidden)/' | LC_ALL=C sort
	echo "exec $*"
	exit 0
fi
exec "$@"
