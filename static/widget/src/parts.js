// The parts of the widget a page may never need (the dialog, the upgrade modal, the retention
// screen, the pricing table), loaded from the Uplift that served the script on first use. Each
// is an ES module at an immutable URL (`uplift-<part>.js?v=<hash of its bytes>`, beside
// uplift.js), fetched with `import()`: the page's CSP `script-src` that lets uplift.js in lets
// its parts in, and no script element is made (Trusted Types has nothing to refuse). The core
// hands a part the modules it shares (`KIT`: one token, one set of words, one list of
// placements) and those of the parts it needs; the part hands back its modules
// (static/widget/build.mjs makes both sides).
import { KIT, NEEDS, PARTS } from 'uplift:build';
import { settings } from './config.js';
import { widgetError } from './events.js';

const loaded = {}; // part → the Promise of its modules, by file name

function load(part) {
  if (!loaded[part]) {
    const url = new URL(`uplift-${part}.js?v=${PARTS[part]}`, settings.base).href;
    loaded[part] = Promise.all([import(url), ...NEEDS[part].map(load)])
      .then(
        ([module, ...needed]) =>
          new Promise((resolve) => {
            module.default({ kit: Object.assign({}, KIT, ...needed), define: resolve });
          }),
      )
      .catch((error) => {
        delete loaded[part]; // the next use tries again
        throw widgetError(`Uplift could not load ${url}: ${error?.message || error}`, {
          code: error?.code || 'part_unavailable',
        });
      });
  }
  return loaded[part];
}

// The function `name` of a part's module `file`, loading the part on its first call: what the
// core imports in place of the part's module. A function declaration, so that it is there
// before this module runs: the kit above imports modules that import parts' stand-ins.
export function fromPart(part, file, name) {
  return async (...args) => (await load(part))[file][name](...args);
}

// Starts loading `part` ahead of use (a pointer over, or focus on, what opens it).
export function prefetch(part) {
  load(part).catch(() => {}); // a failure is reported by the use, which tries again
}
