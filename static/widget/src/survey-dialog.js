// A survey offer's question in the modal dialog (a survey with `display: 'modal'`, or one an
// email's link opens); in a banner it is survey.js's form alone.
import { openDialog } from './dialog.js';
import { element, button } from './dom.js';
import { saidNo } from './feedback.js';
import { phrase } from './strings.js';
import { surveyForm, thanks } from './survey.js';

// The survey in the modal dialog (its focus trap, Escape, the close button: a dismiss unless
// answered). The caller counts the impression.
export function openSurvey(offer, opener) {
  const copy = offer.copy || {};
  const dismissed = saidNo('dismiss', offer);
  let done = false;
  const dialog = openDialog(opener, (why) => {
    if (!done && why === 'dismiss') dismissed();
  });
  const form = surveyForm(offer, () => {
    done = true;
    const close = button(phrase('done'), 'primary', () => dialog.close('done'));
    dialog.show(copy.title, [thanks(), element('div', { class: 'actions' }, close)], close);
  });
  dialog.show(copy.title, [copy.body && element('p', null, copy.body), ...form.nodes], form.first);
  return dialog;
}
