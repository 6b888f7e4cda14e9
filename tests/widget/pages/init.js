// The host page's own script, as an integrator would write it: the queue stub before the
// widget loads (async), the token from the SaaS (here the page's ?token=), a mount, and
// listeners that show what the widget reported. External, so it runs under the strict CSP.
window.Uplift = window.Uplift || function () { (window.Uplift.q = window.Uplift.q || []).push(arguments); };
(function () {
  var params = new URLSearchParams(location.search);
  // ?pagelang=ja: the page itself is in that language (read by the widget as it starts).
  if (params.get('pagelang')) document.documentElement.lang = params.get('pagelang');
  var log = document.getElementById('log');
  ['accepted', 'declined', 'dismissed', 'answered', 'empty', 'error'].forEach(function (name) {
    document.addEventListener('uplift:' + name, function (event) {
      var item = document.createElement('li');
      item.textContent = name + ' ' + JSON.stringify(event.detail);
      log.appendChild(item);
    });
  });
  // The first call answers ?token=; later calls (the widget asks again after a 401) answer
  // ?fresh= when the page has one, as a SaaS would after refreshing an expired token.
  var calls = 0;
  var token = function () {
    calls += 1;
    return Promise.resolve((calls > 1 && params.get('fresh')) || params.get('token'));
  };
  // ?late=1: the page gives the token only once everything has loaded, the widget included.
  if (params.get('late')) {
    window.addEventListener('load', function () { window.Uplift.init({ token: token }); });
  } else {
    window.Uplift('init', { token: token });
  }
  // ?accent= themes the widget; the second value tries to break out of its declaration.
  if (params.get('accent')) {
    window.Uplift('init', {
      theme: { '--uplift-accent': params.get('accent'), '--uplift-banner-bg': 'red}.uplift{display:none' },
    });
  }
  // ?locale=ko: one of the languages the widget ships, asked for through init.
  if (params.get('locale')) window.Uplift('init', { locale: params.get('locale') });
  // ?lang=de: the host translates the widget's own words and picks the number format.
  if (params.get('lang') === 'de') {
    window.Uplift('init', {
      locale: 'de-DE',
      strings: { pay: 'Kostenpflichtig bestellen', due: 'Heute f\u00e4llig', then: 'Danach {price}', used: '{used} von {limit} belegt' },
    });
  }
  // Every element with a data-placement gets its offers (a page may have several).
  document.querySelectorAll('[data-placement]').forEach(function (spot) {
    window.Uplift('mount', spot, { placement: spot.getAttribute('data-placement') });
  });
  var order = document.getElementById('order');
  if (order) window.Uplift('postOrder', { orderId: order.getAttribute('data-order') });
  var downgrade = document.getElementById('downgrade');
  if (downgrade) {
    downgrade.addEventListener('click', function () {
      // ?to= overrides the button's plan (a plan the server may not know).
      var toPlan = params.get('to') || downgrade.getAttribute('data-to-plan');
      window.Uplift.confirmDowngrade({ toPlan: toPlan }).then(function (choice) {
        document.getElementById('choice').textContent = 'choice: ' + choice.choice;
      });
    });
  }
})();
