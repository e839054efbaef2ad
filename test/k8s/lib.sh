# shellcheck shell=bash
# Shared by the checks in test/k8s/: cmocka-style output, which test/run.sh
# counts, and the locations of the tools scripts/setup.sh installs.
#
# A check is a shell function that prints what went wrong and returns
# non-zero; `check NAME FUNCTION` runs it and reports it, `finish` prints
# cmocka's summary and sets the exit status.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${PGHERD_K8S_TOOLS:-$top/build-tools}
helm=$tools/helm
node_modules=$tools/node/node_modules
work=$(mktemp -d "${TMPDIR:-/tmp}/pgherd-k8s.XXXXXX")
trap 'rm -rf "$work"' EXIT

checks_passed=0
checks_failed=()

check() {
	local name=$1 output status
	shift
	echo "[ RUN      ] $name"
	output=$("$@" 2>&1)
	status=$?
	if [ "$status" -eq 0 ]; then
		[ -z "$output" ] || printf '%s\n' "$output"
		echo "[       OK ] $name"
		checks_passed=$((checks_passed + 1))
	else
		printf '%s\n' "$output" | sed 's/^/[  ERROR   ] /'
		echo "[  FAILED  ] $name"
		checks_failed+=("$name")
	fi
}

finish() {
	echo "[==========] $((checks_passed + ${#checks_failed[@]})) test(s) run."
	echo "[  PASSED  ] $checks_passed test(s)."
	if [ "${#checks_failed[@]}" -gt 0 ]; then
		echo "[  FAILED  ] ${#checks_failed[@]} test(s), listed below:"
		printf '[  FAILED  ] %s\n' "${checks_failed[@]}"
		exit 1
	fi
	exit 0
}

# Fails the check with a message.
fail() {
	echo "$*"
	return 1
}

# Succeeds when the text in $1 contains $2, else says what it got.
contains() {
	case "$1" in
	*"$2"*) return 0 ;;
	esac
	echo "expected to find: $2"
	echo "in:"
	printf '%s\n' "$1" | sed 's/^/    /' | head -n 30
	return 1
}

# The tools must be there before anything else can be checked.
tools_present() {
	local missing=""
	[ -x "$helm" ] || missing="$missing $helm"
	[ -f "$node_modules/kubernetes-models/package.json" ] || missing="$missing $node_modules/kubernetes-models"
	[ -f "$node_modules/yaml/package.json" ] || missing="$missing $node_modules/yaml"
	command -v node >/dev/null || missing="$missing node"
	command -v yamllint >/dev/null || missing="$missing yamllint"
	command -v shellcheck >/dev/null || missing="$missing shellcheck"
	[ -z "$missing" ] || fail "missing:$missing; run scripts/setup.sh (make setup)"
}

# Assertions in JavaScript over rendered manifests (see expect.mjs).
expect_js() {
	node "$top/test/k8s/expect.mjs" "$node_modules" "$@"
}
