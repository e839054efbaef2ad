#!/bin/sh
# Install, idempotently, every Debian package pgherd needs to build, test
# and run its local demo.  Does nothing when all are present already.
set -eu

packages="build-essential pkg-config libzookeeper-st-dev libpq-dev libevent-dev
libcmocka-dev libjansson-dev libyaml-dev zookeeper postgresql-15 default-jre-headless libslf4j-java
procps util-linux clang libclang-rt-14-dev"

missing=""
for p in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "setup: need root to install:$missing" >&2
		exit 1
	fi
else
	SUDO=
fi

echo "setup: installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq $missing
