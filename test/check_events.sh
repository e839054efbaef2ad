#!/bin/bash
# Every event the code can emit must be listed in docs/events.md, which
# operators rely on.  agent/config*.c is skipped: it never logs, and its
# dotted strings are configuration keys.
# Prints cmocka-style lines so test/run.sh counts it.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
echo "[ RUN      ] events_documented"
# ctl/ is left out: pgherdctl writes messages for people, not log events, and
# it names configuration keys ("zookeeper.hosts") that look like events.
missing=$(grep -rhoE '"(agent|cluster|config|dcs|election|leader|zookeeper|libevent|pg|ha|kubernetes|rest|sync|watchdog)\.[a-z_]+"' agent dcs pg --include='*.c' --exclude='config*.c' |
	tr -d '"' | sort -u | while read -r event; do
		grep -q "\`$event\`" docs/events.md || echo "$event"
	done)
if [ -n "$missing" ]; then
	echo "events emitted by the code but missing from docs/events.md:"
	echo "$missing" | sed 's/^/  /'
	echo "[  FAILED  ] 1 test(s), listed below:"
	exit 1
fi
echo "[  PASSED  ] 1 test(s)."
