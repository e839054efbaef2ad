// Runs assertions, read from standard input as JavaScript, over rendered
// Kubernetes manifests, so that the shell checks can say what they expect of
// the objects instead of grepping YAML text.
//
//   node test/k8s/expect.mjs NODE_MODULES_DIR FILE... < assertions.js
//
// The assertions see:
//   manifests[i]         the objects of FILE i (docs = manifests[0])
//   object(kind, name)   the one object of that kind (and name) in docs
//   container(pod, name) a container of a pod spec
//   env(container)       its environment as {NAME: value or valueFrom}
//   expect(ok, message)  records message when ok is false
//   equal(actual, want, what)
// Prints each failed expectation and exits 1 if there is any.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [modules, ...files] = process.argv.slice(2);
const YAML = createRequire(join(modules, 'noop.js'))('yaml');
const manifests = files.map(f =>
	YAML.parseAllDocuments(readFileSync(f, 'utf8')).map(d => d.toJS()).filter(Boolean));
const docs = manifests[0];
const failures = [];

function expect(ok, message) {
	if (!ok)
		failures.push(message);
	return ok;
}
function equal(actual, want, what) {
	const a = JSON.stringify(actual), w = JSON.stringify(want);
	return expect(a === w, `${what}: expected ${w}, got ${a}`);
}
function object(kind, name, objects = docs) {
	const found = objects.filter(o => o.kind === kind && (name === undefined || o.metadata?.name === name));
	expect(found.length === 1, `expected one ${kind}${name ? ' ' + name : ''}, found ${found.length}`);
	return found[0] ?? {};
}
function container(pod, name) {
	const c = (pod?.containers ?? []).find(c => c.name === name);
	expect(c !== undefined, `no container ${name}`);
	return c ?? {};
}
function env(c) {
	return Object.fromEntries((c.env ?? []).map(e => [e.name, e.value ?? e.valueFrom]));
}

const body = readFileSync(0, 'utf8');
try {
	new Function('manifests', 'docs', 'object', 'container', 'env', 'expect', 'equal', 'YAML', body)(
		manifests, docs, object, container, env, expect, equal, YAML);
} catch (e) {
	failures.push(`assertions threw: ${e.stack}`);
}
for (const f of failures)
	console.log(`  ${f}`);
process.exit(failures.length ? 1 : 0);
