// Must not compile: the declarations catch a wrong style and a wrong event detail.
/// <reference path="../../../static/widget/uplift.d.ts" />

const uplift = window.Uplift as UpliftApi;
uplift.mount('#x', { style: 'popup' });
document.addEventListener('uplift:empty', (event) => {
  const count: number = event.detail.placement;
  console.log(count);
});
