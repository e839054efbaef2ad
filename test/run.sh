#!/bin/bash
# Run the test binaries of one build and print one closing line the CI can
# read: "N passed, N failed".  Usage: test/run.sh BUILD_DIR [unit|scenario]
set -u
build=$1
which=${2:-all}
passed=0
failed=0
binaries=""
case "$which" in
unit) dirs="unit" ;;
scenario) dirs="scenario" ;;
*) dirs="unit scenario" ;;
esac
# The event catalogue check needs no build: run it with the unit tests.
case "$which" in scenario) ;; *) binaries="$(dirname "$0")/check_events.sh" ;; esac
for d in $dirs; do
	for b in "$build"/test/$d/test_*; do
		[ -x "$b" ] && [ -f "$b" ] && case "$b" in *.o|*.d) ;; *) binaries="$binaries $b" ;; esac
	done
done
for b in $binaries; do
	echo "== $b"
	out=$(mktemp)
	"$b" 2>&1 | tee "$out"
	status=${PIPESTATUS[0]}
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
		echo "!! $b exited with status $status after its tests"
	fi
	if [ "$ran" -eq 0 ]; then
		f=$((f + 1))
		echo "!! $b ran no test (exit $status)"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	rm -f "$out"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
