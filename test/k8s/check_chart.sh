#!/bin/bash
# Checks of the Helm chart in helm/pgherd, offline: lint, renders with the
# value sets in helm/pgherd/ci/, validation of every rendered object against
# the Kubernetes API schemas, the failures the chart promises, and that pgherd
# accepts the configuration the chart writes.
#
#   test/k8s/check_chart.sh [BUILD_DIR]
#
# BUILD_DIR (default build/) holds the pgherd that judges the configuration.
# Prints cmocka-style lines so that test/run.sh counts each check.
# The checks are functions that `check` calls by name.
# shellcheck disable=SC2317
set -u
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
build=${1:-$top/build}
chart=$top/helm/pgherd
ci=$chart/ci

# helm template, output in $work/NAME.yaml and its messages in $work/NAME.err.
render() {
	local name=$1
	shift
	"$helm" template "$@" > "$work/$name.yaml" 2> "$work/$name.err"
}

renders_as() {
	local name=$1
	shift
	render "$name" "$@" || fail "helm template $* failed: $(cat "$work/$name.err")"
}

lint_strict() {
	local values out
	for values in "" "$ci"/*-values.yaml; do
		out=$("$helm" lint --strict "$chart" ${values:+-f "$values"} 2>&1) ||
			fail "helm lint --strict ${values:-(default values)}: $out" || return 1
		contains "$out" "1 chart(s) linted, 0 chart(s) failed" || return 1
	done
	"$helm" version --short
}

render_default() {
	renders_as default pgherd "$chart" -f "$ci/default-values.yaml" || return 1
	expect_js "$work/default.yaml" <<'JS'
equal(docs.map(o => `${o.kind}/${o.metadata.name}`).sort(), [
	'ConfigMap/pgherd', 'PodDisruptionBudget/pgherd', 'Role/pgherd', 'RoleBinding/pgherd',
	'Secret/pgherd', 'Service/pgherd', 'Service/pgherd-headless', 'Service/pgherd-replica',
	'ServiceAccount/pgherd', 'StatefulSet/pgherd'], 'objects');
const sts = object('StatefulSet');
equal(sts.spec.replicas, 3, 'members');
equal(sts.spec.serviceName, 'pgherd-headless', 'serviceName');
equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '10Gi', 'volume size');
const pod = sts.spec.template.spec;
equal(pod.securityContext.runAsUser, 999, 'runAsUser (the image\'s postgres)');
expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]
	.podAffinityTerm.topologyKey === 'kubernetes.io/hostname', 'members are spread over nodes by default');
equal(object('PodDisruptionBudget').spec.maxUnavailable, 1, 'PDB maxUnavailable');
equal(Object.keys(object('Secret').data).sort(),
	['replication-password', 'restapi-password', 'superuser-password'], 'Secret keys');
const config = YAML.parse(object('ConfigMap').data['pgherd.yml']);
equal(config.scope, 'pgherd', 'scope (the release name)');
equal(config.zookeeper.hosts, ['zookeeper:2181'], 'zookeeper.hosts');
equal(config.bootstrap.dcs.ttl, 30, 'bootstrap.dcs.ttl');
JS
}

render_three_hosts() {
	renders_as three-hosts orders "$chart" -f "$ci/three-hosts-values.yaml" || return 1
	expect_js "$work/three-hosts.yaml" <<'JS'
const config = YAML.parse(object('ConfigMap').data['pgherd.yml']);
equal(config.zookeeper.hosts, [
	'zk-0.zk-headless.zookeeper.svc.cluster.local:2181',
	'zk-1.zk-headless.zookeeper.svc.cluster.local:2181',
	'zk-2.zk-headless.zookeeper.svc.cluster.local:2181'], 'zookeeper.hosts');
equal(config.zookeeper.session_timeout, 10, 'zookeeper.session_timeout');
equal([config.namespace, config.scope], ['/databases', 'orders'], 'namespace and scope');
equal(config.bootstrap.dcs, {
	ttl: 20, loop_wait: 5, retry_timeout: 5, maximum_lag_on_failover: 4194304,
	postgresql: { use_pg_rewind: true, parameters: { max_connections: 300, shared_buffers: '512MB' } },
}, 'bootstrap.dcs (timing and PostgreSQL parameters)');
equal(config.log.format, 'json', 'log.format');
const sts = object('StatefulSet');
equal(sts.spec.replicas, 5, 'members');
const claim = sts.spec.volumeClaimTemplates[0].spec;
equal([claim.storageClassName, claim.resources.requests.storage], ['fast-ssd', '50Gi'], 'persistence');
const pod = sts.spec.template.spec;
equal(pod.nodeSelector, { 'kubernetes.io/os': 'linux' }, 'nodeSelector');
equal(pod.tolerations[0].key, 'dedicated', 'tolerations');
equal(container(pod, 'pgherd').resources.limits.memory, '2Gi', 'resources');
JS
}

render_sidecars_existing_secret() {
	renders_as sidecars orders "$chart" -f "$ci/sidecars-values.yaml" || return 1
	expect_js "$work/sidecars.yaml" <<'JS'
expect(!docs.some(o => o.kind === 'Secret'), 'a Secret is rendered although credentials.existingSecret is set');
expect(!docs.some(o => o.kind === 'PodDisruptionBudget'), 'the PDB is rendered although disabled');
const pod = object('StatefulSet').spec.template;
equal(pod.spec.containers.map(c => c.name), ['pgherd', 'metrics'], 'containers');
const pgherd = container(pod.spec, 'pgherd');
const refs = pgherd.env.filter(e => e.valueFrom?.secretKeyRef).map(e => e.valueFrom.secretKeyRef.name);
equal([...new Set(refs)], ['orders-db-credentials'], 'Secret of the passwords');
equal(pgherd.env.at(-1), { name: 'TZ', value: 'UTC' }, 'extraEnv comes last, so it wins');
expect(pgherd.volumeMounts.some(m => m.name === 'scratch' && m.mountPath === '/scratch'), 'extraVolumeMounts');
equal(pod.spec.volumes.map(v => v.name), ['config', 'exporter-queries', 'scratch'], 'volumes');
equal(pod.metadata.annotations['prometheus.io/scrape'], 'true', 'podAnnotations');
expect(pod.metadata.annotations['checksum/config'], 'configuration checksum annotation');
expect(pod.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution,
	'the given affinity replaces the default');
JS
}

objects_valid() {
	local out
	out=$(node "$top/test/k8s/validate.mjs" "$node_modules" \
		"$work/default.yaml" "$work/three-hosts.yaml" "$work/sidecars.yaml") ||
		fail "$out" || return 1
	tail -n 1 <<< "$out"
}

# The validation above must be able to fail: a misspelt field and a wrong
# type in otherwise valid objects.
validator_rejects_bad_objects() {
	local out
	sed -e 's/livenessProbe:/livenesProbe:/' -e 's/containerPort: 8008/containerPort: "8008"/' \
		-e 's/maxUnavailable: 1/maxUnavailabel: 1/' "$work/default.yaml" > "$work/bad.yaml"
	if out=$(node "$top/test/k8s/validate.mjs" "$node_modules" "$work/bad.yaml"); then
		fail "validate.mjs accepted broken objects: $out"
		return 1
	fi
	contains "$out" ".spec.template.spec.containers[0].livenesProbe: unknown field" &&
		contains "$out" "containerPort must be integer" &&
		contains "$out" ".spec.maxUnavailabel: unknown field" &&
		contains "$out" "8 valid, 2 invalid"
}

yaml_lints() {
	yamllint -s -d relaxed "$work/default.yaml" "$work/three-hosts.yaml" "$work/sidecars.yaml" \
		"$chart/Chart.yaml" "$chart/values.yaml" "$ci"/*.yaml
}

requires_zookeeper_hosts() {
	if render no-hosts pgherd "$chart"; then
		fail "rendered without zookeeper.hosts"
		return 1
	fi
	contains "$(cat "$work/no-hosts.err")" "zookeeper.hosts is required: list your ZooKeeper servers as host:port"
}

rejects_non_integer_members() {
	local err
	printf 'replicas: "3"\n' > "$work/string-replicas.yaml"
	printf 'replicas: 2.5\n' > "$work/fraction-replicas.yaml"
	for args in "--set replicas=three" "-f $work/string-replicas.yaml" "-f $work/fraction-replicas.yaml"; do
		# shellcheck disable=SC2086 # two words each
		if render replicas pgherd "$chart" -f "$ci/default-values.yaml" $args; then
			fail "rendered with $args"
			return 1
		fi
		err=$(cat "$work/replicas.err")
		if ! contains "$err" "at '/replicas'" || ! contains "$err" "want integer"; then
			return 1
		fi
	done
}

rejects_unknown_value() {
	if render unknown pgherd "$chart" -f "$ci/default-values.yaml" --set replica=3; then
		fail "rendered with an unknown top-level value"
		return 1
	fi
	contains "$(cat "$work/unknown.err")" "additional properties 'replica' not allowed"
}

# pgherd itself, behind the image's entrypoint and with the environment the
# StatefulSet gives the container, must accept the configuration file that
# every render writes.
config_accepted_by_pgherd() {
	local name out pod_env
	[ -x "$build/pgherd" ] || fail "$build/pgherd is missing: build it first (make)" || return 1
	for name in default three-hosts sidecars; do
		expect_js "$work/$name.yaml" > "$work/$name.pgherd.yml" <<'JS' || return 1
process.stdout.write(object('ConfigMap').data['pgherd.yml']);
JS
		expect_js "$work/$name.yaml" > "$work/$name.env" <<'JS' || return 1
const fields = { 'metadata.name': 'pgherd-1', 'status.podIP': '10.0.0.7' };
for (const e of container(object('StatefulSet').spec.template.spec, 'pgherd').env) {
	const value = e.value ?? fields[e.valueFrom?.fieldRef?.fieldPath] ??
		(e.valueFrom?.secretKeyRef ? 'from-the-secret' : undefined);
	expect(value !== undefined, `no test value for ${JSON.stringify(e)}`);
	console.log(`${e.name}=${value}`);
}
JS
		mapfile -t pod_env < "$work/$name.env"
		out=$(env -i PATH="$build:/usr/bin:/bin" "${pod_env[@]}" \
			sh "$top/deploy/entrypoint.sh" --validate "$work/$name.pgherd.yml" 2>&1) ||
			fail "pgherd rejects the $name render's configuration: $out" || return 1
		contains "$out" "configuration is valid" || return 1
		case "$out" in
		*warning*) fail "pgherd warns about the $name render's configuration: $out" || return 1 ;;
		esac
	done
}

releases_do_not_collide() {
	renders_as release-a alpha "$chart" -f "$ci/default-values.yaml" &&
		renders_as release-b beta "$chart" -f "$ci/default-values.yaml" || return 1
	expect_js "$work/release-a.yaml" "$work/release-b.yaml" <<'JS'
const [a, b] = manifests;
const names = m => m.map(o => `${o.kind}/${o.metadata.name}`);
const shared = names(a).filter(n => names(b).includes(n));
equal(shared, [], 'objects both releases create');
for (const [release, objects] of [['alpha', a], ['beta', b]]) {
	for (const o of objects) {
		const selector = o.kind === 'Service' ? o.spec.selector : o.spec?.selector?.matchLabels;
		if (selector)
			equal(selector['app.kubernetes.io/instance'], release, `${o.kind}/${o.metadata.name} selects its release`);
	}
	const config = YAML.parse(object('ConfigMap', undefined, objects).data['pgherd.yml']);
	equal(config.scope, release, 'cluster name in ZooKeeper');
}
JS
}

rbac_minimal() {
	expect_js "$work/default.yaml" <<'JS'
const role = object('Role');
equal(role.apiVersion, 'rbac.authorization.k8s.io/v1', 'Role apiVersion');
equal(role.rules, [{ apiGroups: [''], resources: ['pods'], resourceNames: ['pgherd-0', 'pgherd-1', 'pgherd-2'],
	verbs: ['get', 'patch'] }], 'Role rules');
const binding = object('RoleBinding');
equal(binding.apiVersion, 'rbac.authorization.k8s.io/v1', 'RoleBinding apiVersion');
equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pgherd' }, 'roleRef');
const account = object('StatefulSet').spec.template.spec.serviceAccountName;
equal(binding.subjects.map(s => `${s.kind}/${s.name}`), [`ServiceAccount/${account}`], 'subjects');
equal(object('ServiceAccount').metadata.name, account, 'ServiceAccount');
JS
}

# The agents label their pods; the Services select on that label; the probes
# reach the REST API.
discovery_and_probes() {
	expect_js "$work/default.yaml" "$work/sidecars.yaml" <<'JS'
for (const [objects, label] of [[manifests[0], 'role'], [manifests[1], 'pgherd.example.com/role']]) {
	const name = object('StatefulSet', undefined, objects).metadata.name;
	equal(object('Service', name, objects).spec.selector[label], 'primary', `${name} selects`);
	equal(object('Service', `${name}-replica`, objects).spec.selector[label], 'replica', `${name}-replica selects`);
	const headless = object('Service', `${name}-headless`, objects).spec;
	equal([headless.clusterIP, headless.publishNotReadyAddresses], ['None', true], 'headless Service');
	const pgherd = container(object('StatefulSet', undefined, objects).spec.template.spec, 'pgherd');
	const e = env(pgherd);
	equal(e.PGHERD_KUBERNETES_LABELS_ENABLED, 'true', 'labelling enabled');
	equal(e.PGHERD_KUBERNETES_LABELS_ROLE_LABEL, label, 'label name given to the agent');
	equal(e.PGHERD_KUBERNETES_LABELS_POD_NAME, { fieldRef: { fieldPath: 'metadata.name' } }, 'pod name');
	equal(e.POD_IP, { fieldRef: { fieldPath: 'status.podIP' } }, 'POD_IP for the entrypoint');
	const port = pgherd.ports.find(p => p.name === 'restapi');
	equal(port?.containerPort, 8008, 'REST API port');
	equal(pgherd.livenessProbe.httpGet, { path: '/liveness', port: 'restapi' }, 'liveness probe');
	equal(pgherd.readinessProbe.httpGet, { path: '/readiness', port: 'restapi' }, 'readiness probe');
}
JS
}

# Generated, not a fixed default; kept across upgrades (lookup) and
# uninstalls (resource policy).
passwords_generated() {
	renders_as again pgherd "$chart" -f "$ci/default-values.yaml" || return 1
	expect_js "$work/default.yaml" "$work/again.yaml" <<'JS' || return 1
const [first, second] = manifests.map(m => object('Secret', undefined, m).data);
for (const key of Object.keys(first)) {
	const password = Buffer.from(first[key], 'base64').toString();
	expect(/^[A-Za-z0-9]{32}$/.test(password), `${key} is not 32 random characters`);
	expect(first[key] !== second[key], `${key} is the same in two renders: a fixed default`);
}
equal(object('Secret').metadata.annotations['helm.sh/resource-policy'], 'keep', 'resource policy');
JS
	grep -qF "lookup \"v1\" \"Secret\" .Release.Namespace \$name" "$chart/templates/secret.yaml" ||
		fail "templates/secret.yaml does not look up its existing Secret"
}

notes() {
	local out
	out=$("$helm" install orders "$chart" -f "$ci/default-values.yaml" --namespace db --dry-run=client 2>&1) ||
		fail "helm install --dry-run=client: $out" || return 1
	out=${out#*NOTES:}
	contains "$out" "kubectl exec -n db orders-0 -c pgherd -- pgherdctl -c /etc/pgherd/pgherd.yml list" &&
		contains "$out" "psql -h 127.0.0.1 -p 5432 -U postgres postgres" &&
		contains "$out" "kubectl port-forward -n db svc/orders 5432:5432" &&
		contains "$out" "kubectl get secret -n db orders"
}

# Every value is in the schema (so no value can be misspelt) and in the
# user's documentation.
values_documented() {
	node - "$node_modules" "$chart" "$top/docs/kubernetes.md" <<'JS'
const [modules, chart, doc] = process.argv.slice(2);
const { createRequire } = require('node:module');
const YAML = createRequire(modules + '/noop.js')('yaml');
const fs = require('node:fs');
const values = YAML.parse(fs.readFileSync(chart + '/values.yaml', 'utf8'));
const schema = JSON.parse(fs.readFileSync(chart + '/values.schema.json', 'utf8'));
const text = fs.readFileSync(doc, 'utf8');
const problems = [];
function walk(value, schemaNode, path) {
	const documented = text.includes('`' + path + '`');
	if (!schemaNode)
		problems.push(`${path}: not in values.schema.json`);
	const leaf = value === null || typeof value !== 'object' || Array.isArray(value) ||
		!schemaNode?.properties || Object.keys(value).length === 0;
	if (leaf || documented) {
		if (!documented)
			problems.push(`${path}: not documented in docs/kubernetes.md`);
		return;
	}
	for (const [k, v] of Object.entries(value))
		walk(v, schemaNode.properties[k], `${path}.${k}`);
}
for (const [k, v] of Object.entries(values))
	walk(v, schema.properties[k], k);
problems.forEach(p => console.log(p));
process.exit(problems.length ? 1 : 0);
JS
}

check chart_tools_present tools_present || true
if [ "${#checks_failed[@]}" -gt 0 ]; then
	finish
fi
check chart_lint_strict lint_strict
check chart_render_default render_default
check chart_render_three_zookeeper_hosts render_three_hosts
check chart_render_sidecars_existing_secret render_sidecars_existing_secret
check chart_objects_valid objects_valid
check chart_validator_rejects_bad_objects validator_rejects_bad_objects
check chart_yamllint_relaxed yaml_lints
check chart_requires_zookeeper_hosts requires_zookeeper_hosts
check chart_rejects_non_integer_members rejects_non_integer_members
check chart_rejects_unknown_value rejects_unknown_value
check chart_config_accepted_by_pgherd config_accepted_by_pgherd
check chart_releases_do_not_collide releases_do_not_collide
check chart_rbac_minimal rbac_minimal
check chart_discovery_labels_and_probes discovery_and_probes
check chart_passwords_generated_and_kept passwords_generated
check chart_notes notes
check chart_values_documented values_documented
finish
