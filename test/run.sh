#!/bin/bash
# Run the test binaries of one or more builds, and optionally the fuzzers,
# and print one closing line the CI can read: "N passed, N failed".
#
#   test/run.sh [--only unit|scenario] [--fuzz DIR] BUILD_DIR...
#
# Each cmocka binary counts its own tests; a fuzzer counts as one test.
set -u
only=all
fuzz_dir=""
while [ $# -gt 0 ]; do
	case "$1" in
	--only) only=$2; shift 2 ;;
	--fuzz) fuzz_dir=$2; shift 2 ;;
	*) break ;;
	esac
done
builds=("$@")
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0

# Adds the counts of one cmocka run (its output in $1, exit status $2).
count() {
	local out=$1 status=$2 name=$3 p f ran
	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\./\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s), listed below:/\1/p' "$out" | tail -n 1)
	ran=$(grep -c '^\[ RUN      \]' "$out")
	p=${p:-0}
	f=${f:-0}
	# A binary that died before cmocka's summary counts every test it
	# started but did not pass as failed.
	if [ "$((p + f))" -lt "$ran" ]; then
		f=$((ran - p))
	fi
	# A sanitizer report at exit (a leak, say) comes after cmocka's
	# summary: a non-zero exit with nothing failed still fails the binary.
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && [ "$ran" -gt 0 ]; then
		f=1
		p=$((p > 0 ? p - 1 : 0))
		echo "!! $name exited with status $status after its tests"
	fi
	if [ "$ran" -eq 0 ]; then
		f=$((f + 1))
		echo "!! $name ran no test (exit $status)"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

run_one() {
	local out status
	echo "== $*"
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"
	status=${PIPESTATUS[0]}
	count "$out" "$status" "$1"
	rm -f "$out"
}

if [ "$only" = all ] || [ "$only" = unit ]; then
	run_one "$top/test/check_events.sh"
	# The Kubernetes packaging; pgherd from the first build judges its config.
	run_one "$top/test/k8s/check_chart.sh" "${builds[0]:-$top/build}"
	run_one "$top/test/k8s/check_image.sh" "${builds[0]:-$top/build}"
fi
for build in "${builds[@]}"; do
	for kind in unit scenario; do
		[ "$only" = all ] || [ "$only" = "$kind" ] || continue
		for b in "$build"/test/$kind/test_*; do
			case "$b" in *.o | *.d) continue ;; esac
			[ -f "$b" ] && [ -x "$b" ] && run_one "$b"
		done
	done
done

if [ -n "$fuzz_dir" ]; then
	seconds=${FUZZ_SECONDS:-10}
	for f in "$fuzz_dir"/fuzz_*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		name=$(basename "$f")
		mkdir -p "$fuzz_dir/corpus/$name"
		echo "== $f ($seconds s)"
		if "$f" -max_total_time="$seconds" -print_final_stats=1 \
			-artifact_prefix="$fuzz_dir/$name-" "$fuzz_dir/corpus/$name" \
			> "$fuzz_dir/$name.log" 2>&1; then
			grep -E 'stat::number_of_executed_units' "$fuzz_dir/$name.log"
			passed=$((passed + 1))
		else
			tail -n 40 "$fuzz_dir/$name.log"
			echo "!! $name found a crash; the input is in $fuzz_dir/$name-*"
			failed=$((failed + 1))
		fi
	done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
