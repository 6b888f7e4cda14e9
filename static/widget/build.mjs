// Builds static/widget/src/ into the served static/widget/uplift.js: one minified IIFE with
// the stylesheet inlined as a minified string. The only place the build options live.
//
//   npm run build:widget                      write static/widget/uplift.js
//   npm run build:widget -- --outfile=PATH    write PATH instead (tests/widget/test_widget_build.py
//                                             builds into a temporary file and compares)
//   npm run build:widget -- --check           exit 1 if uplift.js is not what src/ builds to
//
// esbuild is pinned to an exact version in package.json and package-lock.json, so the same
// source always builds to the same bytes; CI rebuilds and compares.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const WIDGET = fileURLToPath(new URL('.', import.meta.url));
const BUILT = `${WIDGET}uplift.js`;
// The browsers the widget runs in (README): adopted constructable stylesheets (Firefox 101,
// Safari 16.4) and Element.replaceChildren() (Chrome and Edge 86) set the floor; all have ES2020.
const TARGET = ['chrome86', 'edge86', 'firefox101', 'safari16.4'];
const BANNER =
  '/*! Uplift widget | MIT License | built by esbuild from source: static/widget/src/ ' +
  '(npm run build:widget) */';

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

async function build() {
  const result = await esbuild.build({
    absWorkingDir: WIDGET,
    entryPoints: ['src/index.js'],
    bundle: true,
    format: 'iife',
    minify: true,
    target: TARGET,
    charset: 'ascii',
    legalComments: 'none',
    banner: { js: BANNER },
    plugins: [cssAsText],
    write: false,
    outfile: BUILT,
    logLevel: 'warning',
  });
  return result.outputFiles[0].contents;
}

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--check' && !arg.startsWith('--outfile='));
if (unknown.length) {
  console.error(`build.mjs: unknown argument ${unknown[0]} (--check, --outfile=PATH)`);
  process.exit(2);
}
const outfileArg = args.findLast((arg) => arg.startsWith('--outfile='));
const built = await build();
if (args.includes('--check')) {
  const committed = await readFile(BUILT);
  if (!committed.equals(built)) {
    console.error(
      'static/widget/uplift.js is not what static/widget/src/ builds to; ' +
        'rebuild it with `python3 dev.py widget`',
    );
    process.exit(1);
  }
} else {
  const outfile = outfileArg ? outfileArg.slice('--outfile='.length) : BUILT;
  await writeFile(outfile, built);
  console.error(`build.mjs: wrote ${outfile} (${built.length} bytes)`);
}
