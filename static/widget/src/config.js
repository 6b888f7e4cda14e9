// What the script tag says, read once at load: the API origin and the defaults that
// `Uplift.init()` may change later. Module state rather than globals: everything but
// `window.Uplift` stays inside the bundle's closure.

export const settings = {
  api: '',
  base: '', // the script's own URL: its parts and catalogues are found beside it
  locale: 'en',
};

let script = null;

// The one way to read the script tag's configuration: data-api, data-locale, data-placement.
export const scriptData = (name) => script.getAttribute(`data-${name}`);

export function configure(scriptTag) {
  script = scriptTag;
  settings.base = script.src;
  // The widget talks only to the Uplift that served it, unless data-api says otherwise.
  const origin = scriptData('api') || new URL(script.src, location.href).origin;
  settings.api = `${origin.replace(/\/$/, '')}/api/v1/widget`;
  // The script tag's data-locale, else the page's own lang, else the browser's language.
  settings.locale =
    scriptData('locale') || document.documentElement.lang || navigator.language || 'en';
}
