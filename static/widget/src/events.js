// How the widget tells the page what happened, and why nothing it does can throw into the page:
// every entry point runs through safely(), which turns a throw or a rejection into an
// `uplift:error` event on document.

// On `document`; or on `target` (a placement's element, for a framework listening there),
// bubbling out of any shadow root up to the document.
export function emit(name, detail, target) {
  const at = target?.isConnected ? target : document;
  try {
    at.dispatchEvent(new CustomEvent(`uplift:${name}`, { detail, bubbles: true, composed: true }));
  } catch {
    // A listener's own exception is the host's; the widget carries on.
  }
}

export function reportError(error, where) {
  emit('error', {
    code: error?.code || 'widget_error',
    message: String(error?.message || error),
    where,
  });
}

// An Error with the fields `uplift:error` reports (code) and callers branch on (status, detail).
export const widgetError = (message, fields) => Object.assign(new Error(message), fields);

// `fn`, with a throw or a rejected promise turned into an `uplift:error` event.
export const safely =
  (fn, where) =>
  (...args) => {
    try {
      const result = fn(...args);
      return result?.catch ? result.catch((error) => reportError(error, where)) : result;
    } catch (error) {
      reportError(error, where);
    }
  };

// `fn`, run the first time only: a "no" is told to the server once, however the customer
// leaves (Send, Skip, Escape, the close button).
export const once = (fn) => {
  let done = false;
  return (...args) => {
    if (done) return undefined;
    done = true;
    return fn(...args);
  };
};
