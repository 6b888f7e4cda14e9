// Builds static/widget/src/ into the served files: the core every page loads
// (static/widget/uplift.js) and the parts it loads on first use (uplift-<part>.js), each one
// minified IIFE, the stylesheet inlined in the core as a minified string. The only place the
// build options live.
//
//   npm run build:widget                     write the files into static/widget/
//   npm run build:widget -- --outdir=DIR     write them into DIR instead (tests/widget/
//                                            test_widget_build.py builds and compares)
//   npm run build:widget -- --check          exit 1 if a file is not what src/ builds to
//
// A part is an ES module, `export default function (uplift) {…}`, loaded with `import()` (no
// script element to create, which Trusted Types would refuse): its own modules (PARTS below)
// bundled with small stand-ins for the core modules it imports, each reading the core's module
// from what the core passes (`uplift.kit`), so a part shares the core's state (the token, the
// words, the placements) and never copies its code; it hands its functions back through
// `uplift.define`. In the core, an import of a part's module
// is a stand-in whose functions load the part (src/parts.js) and then call it. The core knows
// each part and each locale catalogue by the hash of its bytes: their URLs are immutable.
//
// esbuild is pinned to an exact version in package.json and package-lock.json, so the same
// source always builds to the same bytes; CI rebuilds and compares.
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const WIDGET = fileURLToPath(new URL('.', import.meta.url));
const SRC = `${WIDGET}src/`;
// The browsers the widget runs in (README): adopted constructable stylesheets (Firefox 101,
// Safari 16.4) and Element.replaceChildren() (Chrome and Edge 86) set the floor; all have ES2020.
const TARGET = ['chrome86', 'edge86', 'firefox101', 'safari16.4'];
const BANNER =
  '/*! Uplift widget | MIT License | built by esbuild from source: static/widget/src/ ' +
  '(npm run build:widget) */';

// The parts loaded on first use: the modules each is made of, and the parts it needs loaded
// first (whose modules it reads from the kit, as it reads the core's); every other module is
// the core's. The dialog every screen opens (and a survey in it); the upgrade modal and the
// post-order popup; the retention screen; the pricing table.
const PARTS = {
  dialog: { files: ['dialog.js', 'survey-dialog.js'], needs: [] },
  modal: { files: ['quote.js', 'post-order.js'], needs: ['dialog'] },
  retention: { files: ['downgrade.js'], needs: ['dialog'] },
  pricing: { files: ['pricing.js'], needs: [] },
};
const OWNER = new Map(
  Object.entries(PARTS).flatMap(([part, { files }]) => files.map((f) => [`${SRC}${f}`, part])),
);

// What `?v=` must be for an immutable URL: as plugin/api/static.py computes it.
const version = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 12);

// The names a module exports (the source's `export function|const|let|class NAME`).
async function exportsOf(path) {
  const code = await readFile(path, 'utf8');
  const found = [...code.matchAll(/^export (?:async )?(function|const|let|class) (\w+)/gm)];
  return found.map(([, kind, name]) => ({ kind, name }));
}

const relative = (path) => path.slice(SRC.length);

// `import CSS from './styles.css'` is the stylesheet as a minified string, for
// CSSStyleSheet.replaceSync(): no <style> element, so no CSP 'unsafe-inline'.
const cssAsText = {
  name: 'css-as-text',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async ({ path }) => {
      const css = await readFile(path, 'utf8');
      const options = { loader: 'css', minify: true, target: TARGET };
      const { code } = await esbuild.transform(css, options);
      return { contents: code.trim(), loader: 'text' };
    });
  },
};

// Resolves `./x.js` imported from a source module to its absolute path.
const resolved = (args) => resolve(args.resolveDir, args.path);

const OPTIONS = {
  absWorkingDir: WIDGET,
  bundle: true,
  format: 'iife',
  minify: true,
  target: TARGET,
  charset: 'ascii',
  legalComments: 'none',
  banner: { js: BANNER },
  write: false,
  logLevel: 'warning',
};

// One part: its modules, the core's as stand-ins reading the kit. `used` collects the core
// modules any part imports (the core hands exactly those over).
async function buildPart(part, used) {
  const plugin = {
    name: 'core-from-kit',
    setup(build) {
      build.onResolve({ filter: /^uplift-part:/ }, (args) => ({ path: args.path, namespace: 'entry' }));
      build.onLoad({ filter: /.*/, namespace: 'entry' }, () => {
        const { files } = PARTS[part];
        const imports = files.map((f, i) => `import * as m${i} from './src/${f}';`);
        const modules = files.map((f, i) => `${JSON.stringify(f)}: m${i}`).join(', ');
        const contents = `${imports.join('\n')}\nuplift.define({ ${modules} });`;
        return { contents, resolveDir: WIDGET, loader: 'js' };
      });
      build.onResolve({ filter: /^\.\/.*\.js$/ }, (args) => {
        const path = resolved(args);
        const owner = OWNER.get(path);
        if (owner === part) return { path };
        if (owner && !PARTS[part].needs.includes(owner)) {
          return { errors: [{ text: `${part} imports ${args.path}, but does not need ${owner}` }] };
        }
        if (!owner) used.add(path);
        return { path, namespace: 'kit' };
      });
      build.onLoad({ filter: /.*/, namespace: 'kit' }, async ({ path }) => {
        const names = await exportsOf(path);
        const live = names.filter((n) => n.kind === 'let').map((n) => n.name);
        if (live.length) {
          // A `let` export can be reassigned in the core: a copy taken at load would go stale.
          return { errors: [{ text: `a part imports ${relative(path)}, whose ${live} is a let` }] };
        }
        const kit = `uplift.kit[${JSON.stringify(relative(path))}]`;
        const lines = names.map(({ name }) => `export const ${name} = m.${name};`);
        return { contents: `const m = ${kit};\n${lines.join('\n')}`, loader: 'js' };
      });
    },
  };
  const result = await esbuild.build({
    ...OPTIONS,
    entryPoints: [`uplift-part:${part}`],
    plugins: [plugin, cssAsText],
    outfile: `${WIDGET}uplift-${part}.js`,
  });
  // The IIFE becomes the body of the module's one export; `uplift` is its parameter (esbuild
  // never names a variable of its own like a global the code reads).
  const [banner, code] = splitBanner(result.outputFiles[0].text);
  return Buffer.from(`${banner}export default function (uplift) {${code.trimEnd()}}\n`);
}

function splitBanner(text) {
  const end = text.indexOf('*/\n') + 3;
  return [text.slice(0, end), text.slice(end)];
}

// The core: a part's module is a stand-in whose functions load the part first; `uplift:build`
// is what src/parts.js needs to know (the kit, the parts' and catalogues' immutable names).
async function buildCore(kitModules, parts, locales) {
  const needs = Object.fromEntries(Object.entries(PARTS).map(([p, { needs: n }]) => [p, n]));
  const plugin = {
    name: 'parts-on-demand',
    setup(build) {
      build.onResolve({ filter: /^uplift:build$/ }, () => ({ path: 'build', namespace: 'build' }));
      build.onLoad({ filter: /.*/, namespace: 'build' }, () => {
        const modules = [...kitModules].sort();
        const imports = modules.map((path, i) => `import * as k${i} from '${path}';`);
        const kit = modules.map((path, i) => `${JSON.stringify(relative(path))}: k${i}`);
        const contents = [
          ...imports,
          `export const KIT = { ${kit.join(', ')} };`,
          `export const PARTS = ${JSON.stringify(parts)};`,
          `export const NEEDS = ${JSON.stringify(needs)};`,
          `export const LOCALES = ${JSON.stringify(locales)};`,
        ].join('\n');
        return { contents, resolveDir: SRC, loader: 'js' };
      });
      build.onResolve({ filter: /^\.\/.*\.js$/ }, (args) => {
        const path = resolved(args);
        const owner = OWNER.get(path);
        return owner ? { path, namespace: 'lazy', pluginData: owner } : { path };
      });
      build.onLoad({ filter: /.*/, namespace: 'lazy' }, async ({ path, pluginData: part }) => {
        const names = await exportsOf(path);
        const where = `${JSON.stringify(part)}, ${JSON.stringify(relative(path))}`;
        const lines = names.map(({ name }) => `export const ${name} = fromPart(${where}, '${name}');`);
        const contents = `import { fromPart } from './parts.js';\n${lines.join('\n')}`;
        return { contents, resolveDir: SRC, loader: 'js' };
      });
    },
  };
  const result = await esbuild.build({
    ...OPTIONS,
    entryPoints: ['src/index.js'],
    plugins: [plugin, cssAsText],
    outfile: `${WIDGET}uplift.js`,
  });
  return Buffer.from(result.outputFiles[0].contents);
}

// Every served file by name: uplift.js and uplift-<part>.js.
async function build() {
  const used = new Set();
  const files = {};
  const parts = {};
  for (const part of Object.keys(PARTS)) {
    const bytes = await buildPart(part, used);
    files[`uplift-${part}.js`] = bytes;
    parts[part] = version(bytes);
  }
  const locales = {};
  for (const name of (await readdir(`${WIDGET}locales`)).filter((n) => n.endsWith('.json')).sort()) {
    locales[name.slice(0, -'.json'.length)] = version(await readFile(`${WIDGET}locales/${name}`));
  }
  files['uplift.js'] = await buildCore(used, parts, locales);
  return files;
}

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--check' && !arg.startsWith('--outdir='));
if (unknown.length) {
  console.error(`build.mjs: unknown argument ${unknown[0]} (--check, --outdir=DIR)`);
  process.exit(2);
}
const outdirArg = args.findLast((arg) => arg.startsWith('--outdir='));
const built = await build();
if (args.includes('--check')) {
  let stale = false;
  for (const [name, bytes] of Object.entries(built)) {
    const committed = await readFile(`${WIDGET}${name}`).catch(() => Buffer.alloc(0));
    if (!committed.equals(bytes)) {
      console.error(
        `static/widget/${name} is not what static/widget/src/ builds to; ` +
          'rebuild it with `python3 dev.py widget`',
      );
      stale = true;
    }
  }
  process.exit(stale ? 1 : 0);
} else {
  const outdir = outdirArg ? `${outdirArg.slice('--outdir='.length).replace(/\/$/, '')}/` : WIDGET;
  for (const [name, bytes] of Object.entries(built)) {
    await writeFile(`${outdir}${name}`, bytes);
    console.error(`build.mjs: wrote ${outdir}${name} (${bytes.length} bytes)`);
  }
}
