// Survey offers (kind `survey`): one question, in a banner (mount.js) or in the modal
// dialog. A choice question is a radio group of its choices, a scale question five radios
// (1-5); `comment` adds an optional text. Submit sends one `answer` event, then thanks; a 409
// `already_answered` (answered in another tab, another render) is the same thanks.
import { request } from './api.js';
import { element, button } from './dom.js';
import { emit, reportError } from './events.js';
import { commentField, radioGroup } from './feedback.js';
import { customerMessage, phrase } from './strings.js';

const SCALE = ['1', '2', '3', '4', '5'].map((n) => ({ key: n, label: n }));

export const thanks = () => element('p', { class: 'success', role: 'status' }, phrase('thanks'));

// The question, its answers, the comment and Submit (enabled once an answer is picked);
// `answered()` runs once the server has the answer.
export function surveyForm(offer, answered) {
  const survey = offer.survey;
  const scale = survey.type === 'scale';
  const submit = button(phrase('submit'), 'primary', () => send(), { disabled: '' });
  const enable = () => {
    submit.disabled = false;
  };
  const group = scale
    ? radioGroup(survey.question, SCALE, enable, phrase('scaleHint'))
    : radioGroup(survey.question, survey.choices, enable);
  const comment = survey.comment ? commentField() : null;
  const problem = element('p', { class: 'danger', role: 'alert' });

  async function send() {
    const picked = group.picked();
    const answer = scale ? { score: Number(picked) } : { choice: picked };
    answer.text = comment?.text();
    submit.disabled = true;
    problem.textContent = '';
    try {
      const body = { offer_id: offer.offer_id, variant: offer.variant, type: 'answer', answer };
      await request('POST', '/events', { body });
      emit('answered', { offer_id: offer.offer_id, ...answer });
    } catch (error) {
      if (error.code !== 'already_answered') {
        reportError(error, 'survey');
        problem.textContent = customerMessage(error);
        submit.disabled = false;
        return;
      }
    }
    answered();
  }

  const actions = element('div', { class: 'actions' }, submit);
  const nodes = [group.fieldset, comment?.node, problem, actions].filter(Boolean);
  return { nodes, first: group.first };
}
