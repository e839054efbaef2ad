// Validates rendered Kubernetes manifests offline against the API schemas
// bundled in the npm package kubernetes-models, which no cluster is needed for.
//
//   node test/k8s/validate.mjs NODE_MODULES_DIR FILE...
//
// Two passes per object.  The package's validators check types, required
// fields and enums; they accept unknown fields, because Kubernetes' OpenAPI
// schemas do not forbid them, and a misspelt field (livenesProbe) is exactly
// what the API server would silently drop.  So a second pass rejects every
// field that the package's type declarations do not list.
//
// Prints one line per object and exits 1 when any object is invalid.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
	console.error('usage: validate.mjs NODE_MODULES_DIR FILE...');
	process.exit(64);
}
const YAML = createRequire(join(modules, 'noop.js'))('yaml');
const models = join(modules, 'kubernetes-models');

// ---- the type declarations -------------------------------------------------

const declarations = new Map();

function stripComments(text) {
	return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

// The text from `open` (an opening bracket) to its partner, exclusive.
function bracketed(text, open) {
	let depth = 0;
	for (let i = open; i < text.length; i++) {
		const c = text[i];
		if (c === '"') {
			i = text.indexOf('"', i + 1);
		} else if (c === '{' || c === '<' || c === '(' || c === '[') {
			depth++;
		} else if (c === '}' || c === '>' || c === ')' || c === ']') {
			if (--depth === 0)
				return text.slice(open + 1, i);
		}
	}
	throw new Error('unbalanced brackets');
}

// Splits at `sep` outside brackets and string literals.
function splitTop(text, sep) {
	const parts = [];
	let depth = 0, start = 0;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		if (c === '"') {
			i = text.indexOf('"', i + 1);
		} else if ('{<(['.includes(c)) {
			depth++;
		} else if ('}>)]'.includes(c) && text[i - 1] !== '=') {
			depth--;
		} else if (c === sep && depth === 0) {
			parts.push(text.slice(start, i));
			start = i + 1;
		}
	}
	parts.push(text.slice(start));
	return parts.map(p => p.trim()).filter(Boolean);
}

// A type expression as a shape: {fields}, {array}, {map} or null (a scalar,
// or a type too loose to check).
function shape(type, file) {
	const alternatives = splitTop(type, '|').filter(t => t !== 'null' && t !== 'undefined');
	for (const t of alternatives) {
		let m;
		if ((m = /^Array<([\s\S]*)>$/.exec(t)))
			return { array: shape(m[1], file) };
		if (t.startsWith('{'))
			return objectShape(bracketed(t, 0), file);
		if ((m = /^(IIo\w+)$/.exec(t)))
			return referencedShape(m[1], file);
	}
	return null;
}

function objectShape(body, file) {
	const entries = splitTop(body, ';');
	if (entries.length === 1 && /^\[key: string\]\s*:/.test(entries[0]))
		return { map: shape(entries[0].replace(/^\[key: string\]\s*:/, ''), file) };
	const fields = new Map();
	for (const entry of entries) {
		const m = /^"([^"]+)"\??:\s*([\s\S]*)$/.exec(entry);
		if (m)
			fields.set(m[1], { type: m[2], file });
	}
	// An interface without fields (RawExtension, JSON) takes anything.
	return fields.size ? { fields } : null;
}

function referencedShape(name, file) {
	const text = declarationText(file);
	const m = new RegExp(`import \\{[^}]*\\b${name}\\b[^}]*\\} from "([^"]+)"`).exec(text);
	let target = file;
	if (m) {
		const spec = m[1].replace(/\.js$/, '');
		target = spec.startsWith('.') ? resolve(dirname(file), spec) + '.d.ts'
			: join(modules, spec) + '.d.ts';
	}
	return interfaceShape(target);
}

function declarationText(file) {
	if (!declarations.has(file))
		declarations.set(file, existsSync(file) ? stripComments(readFileSync(file, 'utf8')) : '');
	return declarations.get(file);
}

const interfaces = new Map();

function interfaceShape(file) {
	if (!interfaces.has(file)) {
		interfaces.set(file, null);	// a recursive type refers to itself: stop there
		const text = declarationText(file);
		const at = text.search(/export interface I\w+( extends [\w, ]+)? \{/);
		interfaces.set(file, at < 0 ? null : objectShape(bracketed(text, text.indexOf('{', at)), file));
	}
	return interfaces.get(file);
}

function unknownFields(value, s, path, out) {
	if (s === null || value === null || typeof value !== 'object')
		return;
	if (s.array) {
		if (Array.isArray(value))
			value.forEach((v, i) => unknownFields(v, s.array, `${path}[${i}]`, out));
	} else if (s.map) {
		for (const [k, v] of Object.entries(value))
			unknownFields(v, s.map, `${path}.${k}`, out);
	} else if (s.fields && !Array.isArray(value)) {
		for (const [k, v] of Object.entries(value)) {
			const field = s.fields.get(k);
			if (!field)
				out.push(`${path}.${k}: unknown field`);
			else
				unknownFields(v, shape(field.type, field.file), `${path}.${k}`, out);
		}
	}
}

// ---- the objects ------------------------------------------------------------

let passed = 0, failed = 0;
for (const file of files) {
	const documents = YAML.parseAllDocuments(readFileSync(file, 'utf8'));
	for (const document of documents) {
		if (document.errors.length) {
			failed++;
			console.log(`INVALID ${file}: YAML: ${document.errors[0].message}`);
			continue;
		}
		const object = document.toJS();
		if (object === null)
			continue;
		const apiVersion = String(object.apiVersion);
		const id = `${apiVersion} ${object.kind}/${object.metadata?.name}`;
		const dir = join(models, apiVersion);
		const js = join(dir, `${object.kind}.js`);
		if (!/^[\w.]+(\/\w+)?$/.test(apiVersion) || !/^\w+$/.test(String(object.kind)) || !existsSync(js)) {
			failed++;
			console.log(`UNKNOWN ${id}: no schema for this apiVersion and kind`);
			continue;
		}
		const problems = [];
		try {
			const Model = (await import(pathToFileURL(js).href))[object.kind];
			new Model(object).validate();
		} catch (e) {
			problems.push(e.message);
		}
		unknownFields(object, interfaceShape(join(dir, `${object.kind}.d.ts`)), '', problems);
		if (problems.length) {
			failed++;
			console.log(`INVALID ${id}: ${problems.join('; ')}`);
		} else {
			passed++;
			console.log(`ok      ${id}`);
		}
	}
}
console.log(`${passed} valid, ${failed} invalid`);
process.exit(failed || passed === 0 ? 1 : 0);
