// One constructable stylesheet for every shadow root the widget opens, and one more for the
// host's theme. Made on first use, so that loading the script does nothing but register itself.
import CSS from './styles.css';

const THEME_NAME = /^--uplift-[a-z-]+$/;
const THEME_VALUE = /^[^;{}<>\\]*$/; // nothing that could end the declaration or open markup

let base = null;
let theme = null;

export function styleSheets() {
  if (!base) {
    base = new CSSStyleSheet();
    base.replaceSync(CSS);
    theme = new CSSStyleSheet();
  }
  return [base, theme];
}

// Uplift.init({theme}): only custom properties, only plain values, so a theme can recolour
// the widget but never close the declaration and inject a rule.
export function applyTheme(properties) {
  const declarations = Object.entries(properties)
    .filter(([name, value]) => THEME_NAME.test(name) && THEME_VALUE.test(String(value)))
    .map(([name, value]) => `${name}:${value}`);
  styleSheets()[1].replaceSync(`.uplift{${declarations.join(';')}}`);
}
