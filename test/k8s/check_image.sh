#!/bin/bash
# Checks of the container image (deploy/Dockerfile) and its entrypoint
# (deploy/entrypoint.sh) without a container engine: the entrypoint's mapping
# of the container's environment to pgherd's, run with stand-ins for pgherd
# and hostname; and that what the Dockerfile copies and installs exists and
# matches what the build links against.
#
#   test/k8s/check_image.sh [BUILD_DIR]
#
# BUILD_DIR (default build/) holds the pgherd and pgherdctl whose libraries
# the image must install.  Prints cmocka-style lines for test/run.sh.
# The checks are functions that `check` calls by name.
# shellcheck disable=SC2317
set -u
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
build=${1:-$top/build}
dockerfile=$top/deploy/Dockerfile
entrypoint=$top/deploy/entrypoint.sh

# Stand-ins: a pgherd that reports how it was started, and a hostname that
# answers like a container's.
mkdir -p "$work/bin"
cat > "$work/bin/pgherd" <<'SH'
#!/bin/sh
echo "pid=$$"
echo "argv=$*"
env | grep -E '^(PGHERD|PATRONI)_' | grep -v '^PGHERD_ENTRYPOINT_' | LC_ALL=C sort
SH
cp "$work/bin/pgherd" "$work/bin/pgherdctl"
cat > "$work/bin/hostname" <<'SH'
#!/bin/sh
if [ "${1:-}" = -i ]; then echo "172.17.0.5 fe80::42:acff:fe11:5"; else echo box; fi
SH
chmod +x "$work/bin/"*
touch "$work/pgherd.yml"

# The entrypoint in an environment of exactly the given variables.
entry() {
	env -i PATH="$work/bin:/usr/bin:/bin" PGHERD_ENTRYPOINT_CONFIG="$work/absent.yml" \
		TMPDIR="$work" PGHERD_ENTRYPOINT_DRY_RUN=1 "$@"
}

# Succeeds when the output ($1) is exactly the expected lines ($2).
same() {
	[ "$1" = "$2" ] && return 0
	echo "expected:"
	printf '%s\n' "$2" | sed 's/^/    /'
	echo "got:"
	printf '%s\n' "$1" | sed 's/^/    /'
	return 1
}

shellchecked() {
	shellcheck -x "$entrypoint" "$top/scripts/setup.sh" "$top"/test/k8s/*.sh
}

# In a pod with the chart's configuration file: the member's name and
# addresses come from the downward API; listen addresses and the data
# directory are left to the file.
maps_pod_environment() {
	local out
	out=$(entry POD_NAME=orders-2 POD_IP=10.4.0.17 sh "$entrypoint" "$work/pgherd.yml") || return 1
	same "$out" "PGHERD_NAME=orders-2
PGHERD_POSTGRESQL_CONNECT_ADDRESS=10.4.0.17:5432
PGHERD_RESTAPI_CONNECT_ADDRESS=10.4.0.17:8008
exec pgherd $work/pgherd.yml"
}

# A variable already set, under pgherd's or Patroni's name, is never
# replaced; a listen port moves the derived connect address with it; an
# empty variable counts as unset, as pgherd reads it.
set_variables_win() {
	local out
	out=$(entry POD_NAME=orders-2 POD_IP=10.4.0.17 PGHERD_NAME=mine \
		PATRONI_RESTAPI_CONNECT_ADDRESS=api.example:9000 PGHERD_POSTGRESQL_LISTEN=0.0.0.0:6432 \
		sh "$entrypoint" "$work/pgherd.yml") || return 1
	same "$out" "PATRONI_RESTAPI_CONNECT_ADDRESS=api.example:9000
PGHERD_NAME=mine
PGHERD_POSTGRESQL_CONNECT_ADDRESS=10.4.0.17:6432
PGHERD_POSTGRESQL_LISTEN=0.0.0.0:6432
exec pgherd $work/pgherd.yml" || return 1
	out=$(entry POD_NAME=orders-2 PGHERD_NAME= sh "$entrypoint" "$work/pgherd.yml") || return 1
	same "$out" "PGHERD_NAME=orders-2
exec pgherd $work/pgherd.yml"
}

# docker run without a file: the container's own facts and a file of
# defaults make a complete member; the default file, when present, turns
# them off.
environment_only() {
	local out
	out=$(entry PGHERD_SCOPE=demo sh "$entrypoint") || return 1
	same "$out" "PGHERD_NAME=box
PGHERD_POSTGRESQL_CONNECT_ADDRESS=172.17.0.5:5432
PGHERD_RESTAPI_CONNECT_ADDRESS=172.17.0.5:8008
PGHERD_SCOPE=demo
exec pgherd $work/pgherd-defaults.yml" || return 1
	out=$(entry HOSTNAME=web-1 POD_IP=fd00::5 PGHERD_RESTAPI_LISTEN=0.0.0.0:9008 sh "$entrypoint" |
		grep -E '_NAME=|CONNECT') || return 1
	same "$out" "PGHERD_NAME=web-1
PGHERD_POSTGRESQL_CONNECT_ADDRESS=[fd00::5]:5432
PGHERD_RESTAPI_CONNECT_ADDRESS=[fd00::5]:9008" || return 1
	out=$(entry PGHERD_ENTRYPOINT_CONFIG="$work/pgherd.yml" HOSTNAME=web-1 sh "$entrypoint") || return 1
	same "$out" "exec pgherd $work/pgherd.yml"
}

# pgherd itself accepts the file of defaults with the few variables a user
# must give, and the defaults are what the chart uses too.
defaults_valid_for_pgherd() {
	local out
	[ -x "$build/pgherd" ] || fail "$build/pgherd is missing: build it first (make)" || return 1
	rm -f "$work/pgherd-defaults.yml"
	entry PGHERD_SCOPE=demo sh "$entrypoint" > /dev/null || return 1
	out=$(env -i PATH="$build:/usr/bin:/bin" PGHERD_SCOPE=demo PGHERD_NAME=box \
		PGHERD_ZOOKEEPER_HOSTS=zk-0:2181,zk-1:2181 PGHERD_SUPERUSER_PASSWORD=a \
		PGHERD_REPLICATION_PASSWORD=b "$build/pgherd" --validate "$work/pgherd-defaults.yml" 2>&1) ||
		fail "pgherd rejects the entrypoint's defaults: $out" || return 1
	contains "$out" "configuration is valid" || return 1
	case "$out" in
	*warning*) fail "pgherd warns about the entrypoint's defaults: $out" ;;
	esac
}

passwords_hidden() {
	local out
	out=$(entry PGHERD_SUPERUSER_PASSWORD=s3cret PATRONI_REPLICATION_PASSWORD=r3pl \
		sh "$entrypoint" "$work/pgherd.yml") || return 1
	case "$out" in
	*s3cret* | *r3pl*) fail "a password is printed: $out" ;;
	esac
	same "$out" "PATRONI_REPLICATION_PASSWORD=(hidden)
PGHERD_SUPERUSER_PASSWORD=(hidden)
exec pgherd $work/pgherd.yml"
}

# Without the dry run the entrypoint becomes pgherd (same PID: pgherd is the
# container's PID 1) with the mapped environment, the secrets intact; options
# and other commands go through too.
execs_pgherd() {
	local out pid
	env -i PATH="$work/bin:/usr/bin:/bin" PGHERD_ENTRYPOINT_CONFIG="$work/absent.yml" \
		POD_NAME=orders-0 POD_IP=10.4.0.9 PGHERD_SUPERUSER_PASSWORD=s3cret \
		sh "$entrypoint" "$work/pgherd.yml" > "$work/exec.out" &
	pid=$!
	wait "$pid" || fail "the entrypoint failed" || return 1
	same "$(cat "$work/exec.out")" "pid=$pid
argv=$work/pgherd.yml
PGHERD_NAME=orders-0
PGHERD_POSTGRESQL_CONNECT_ADDRESS=10.4.0.9:5432
PGHERD_RESTAPI_CONNECT_ADDRESS=10.4.0.9:8008
PGHERD_SUPERUSER_PASSWORD=s3cret" || return 1
	out=$(entry POD_NAME=orders-0 sh "$entrypoint" --validate "$work/pgherd.yml") || return 1
	contains "$out" "exec pgherd --validate $work/pgherd.yml" || return 1
	out=$(entry PGHERD_ENTRYPOINT_DRY_RUN= PGHERD_ENTRYPOINT_CONFIG="$work/pgherd.yml" \
		POD_NAME=orders-0 sh "$entrypoint" pgherdctl -c "$work/pgherd.yml" list) || return 1
	contains "$out" "argv=-c $work/pgherd.yml list" && contains "$out" "PGHERD_NAME=orders-0"
}

# The Dockerfile's instructions, continuation lines joined.
instructions() {
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile" | grep -Ev '^[[:space:]]*(#|$)'
}

# Every COPY/ADD source is in the repository, or is a file `make all`
# produces in the build stage; every directory `make all` compiles is copied.
copy_sources_exist() {
	local line from words sources source stage_dir problems=""
	grep -Eq '^FROM [^ ]+ AS build$' <(instructions) || fail "no build stage" || return 1
	grep -qx 'RUN make all' <(instructions) || fail "the build stage does not run make all" || return 1
	stage_dir=$(instructions | sed -n '/ AS build$/,/^FROM /s/^WORKDIR //p')
	while read -r line; do
		from=""
		read -ra words <<< "$line"
		words=("${words[@]:1}")
		if [[ "${words[0]}" == --from=* ]]; then
			from=${words[0]#--from=}
			words=("${words[@]:1}")
		fi
		sources=("${words[@]:0:${#words[@]}-1}")
		for source in "${sources[@]}"; do
			if [ -z "$from" ]; then
				[ -e "$top/$source" ] || problems="$problems
$line: $source is not in the repository"
			elif [ "$from" != build ]; then
				problems="$problems
$line: unknown stage $from"
			else
				case "$source" in
				"$stage_dir/build/pgherd" | "$stage_dir/build/pgherdctl") ;;
				*) problems="$problems
$line: $source is not a file make all builds in $stage_dir/build" ;;
				esac
			fi
		done
	done < <(instructions | grep -E '^(COPY|ADD) ')
	# shellcheck disable=SC2016 # $(wildcard is Makefile text
	while read -r dir; do
		grep -Eq "^COPY $dir \./$dir$" <(instructions) ||
			problems="$problems
make all compiles $dir/, which the build stage does not copy"
	done < <(grep -E '^(LIB_SRC|CTL_SRC) ' "$top/Makefile" | grep -o '$(wildcard [a-z]*/' |
		sed 's/.* //; s/\/$//' | sort -u)
	grep -q '^COPY deploy/entrypoint.sh /usr/local/bin/pgherd-entrypoint$' <(instructions) &&
		grep -q '^ENTRYPOINT \["/usr/local/bin/pgherd-entrypoint"\]$' <(instructions) ||
		problems="$problems
the entrypoint is not deploy/entrypoint.sh in exec form"
	[ -z "$problems" ] || fail "${problems#?}"
}

# The packages of the libraries pgherd and pgherdctl link against (runtime)
# and of the pkg-config modules the Makefile builds with (build stage) are
# all installed by the Dockerfile.
packages_installed() {
	local program library package module modules stage final problems=""
	stage=$(instructions | sed -n '/ AS build$/,/^FROM /p')
	final=$(instructions | sed -n '/^FROM debian:bookworm-slim$/,$p')
	for program in pgherd pgherdctl; do
		[ -x "$build/$program" ] || fail "$build/$program is missing: build it first (make)" || return 1
		for library in $(readelf -d "$build/$program" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
			# The image is built without the sanitizers of build-asan/.
			case "$library" in libasan.* | libubsan.* | liblsan.* | libtsan.*) continue ;; esac
			package=$(dpkg -S "*/$library" 2>/dev/null | head -n 1 | cut -d: -f1)
			[ -n "$package" ] || fail "no Debian package has $library" || return 1
			[ "$package" = libc6 ] && continue
			grep -Eq "(^| )$package( |$)" <<< "$final" ||
				problems="$problems
$program links $library from $package, which the image does not install"
		done
	done
	read -ra modules < <(sed -n 's/^PKGS *= *//p' "$top/Makefile")
	for module in "${modules[@]}"; do
		package=$(dpkg -S "$(pkg-config --variable=pcfiledir "$module")/$module.pc" 2>/dev/null |
			head -n 1 | cut -d: -f1)
		[ -n "$package" ] || fail "no Debian package has pkg-config module $module" || return 1
		grep -Eq "(^| )$package( |$)" <<< "$stage" ||
			problems="$problems
the Makefile builds with $module from $package, which the build stage does not install"
	done
	[ -z "$problems" ] || fail "${problems#?}"
}

# The image and the chart agree: Debian 12 with PostgreSQL 15, the postgres
# user the chart's security context names, the data directory under the
# chart's volume, the ports the chart's probes and Services use.
image_matches_chart() {
	local all problems=""
	all=$(instructions)
	grep -Eq '^FROM debian:bookworm-slim$' <<< "$all" || problems="$problems
the image is not Debian 12 (bookworm)"
	grep -Eq ' postgresql-15 ' <<< "$all" || problems="$problems
PostgreSQL 15 is not installed"
	grep -Eq '^USER postgres$' <<< "$all" || problems="$problems
the image does not run as postgres"
	grep -Eq -- '--uid 999 .*postgres' <<< "$all" &&
		grep -Eq '^  runAsUser: 999$' "$top/helm/pgherd/values.yaml" &&
		grep -Eq '^  fsGroup: 999$' "$top/helm/pgherd/values.yaml" || problems="$problems
the postgres uid of the image (999) and the chart's podSecurityContext differ"
	grep -Eq '^EXPOSE 5432 8008$' <<< "$all" || problems="$problems
the image does not expose 5432 and 8008"
	grep -q '^      data_dir: /var/lib/postgresql/data/pgdata$' "$top/helm/pgherd/templates/configmap.yaml" &&
		grep -q '^  data_dir: /var/lib/postgresql/data/pgdata$' "$entrypoint" &&
		grep -q '^VOLUME /var/lib/postgresql/data$' <<< "$all" &&
		grep -q 'mountPath: /var/lib/postgresql/data$' "$top/helm/pgherd/templates/statefulset.yaml" ||
		problems="$problems
the data directory is not /var/lib/postgresql/data/pgdata on the data volume everywhere"
	[ -z "$problems" ] || fail "${problems#?}"
}

image_tools_present() {
	local missing=""
	for tool in shellcheck readelf dpkg pkg-config; do
		command -v "$tool" >/dev/null || missing="$missing $tool"
	done
	[ -z "$missing" ] || fail "missing:$missing; run scripts/setup.sh (make setup)"
}

check image_tools_present image_tools_present
if [ "${#checks_failed[@]}" -gt 0 ]; then
	finish
fi
check scripts_shellcheck shellchecked
check entrypoint_maps_pod_environment maps_pod_environment
check entrypoint_set_variables_win set_variables_win
check entrypoint_environment_only environment_only
check entrypoint_defaults_valid_for_pgherd defaults_valid_for_pgherd
check entrypoint_hides_passwords passwords_hidden
check entrypoint_execs_pgherd execs_pgherd
check dockerfile_copy_sources_exist copy_sources_exist
check dockerfile_installs_linked_libraries packages_installed
check dockerfile_matches_chart image_matches_chart
finish
