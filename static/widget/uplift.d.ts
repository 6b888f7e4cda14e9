// TypeScript declarations for the Uplift widget (static/widget/README.md): the `Uplift` global
// and its queue, the `uplift:*` events on `document`, and the custom elements. Served beside
// the script at the same origin; copy it into a project, or reference it:
//   /// <reference path="./uplift.d.ts" />
// tests/widget/test_widget_types.py compiles a page that uses every declaration with
// `tsc --strict`.

export {};

declare global {
  /** A customer token, or a function the widget calls for one (again after a 401). */
  type UpliftTokenSource = string | (() => string | Promise<string>);

  interface UpliftInitOptions {
    token?: UpliftTokenSource;
    /** A BCP 47 tag (`'ko'`, `'fr-CA'`); the widget ships en, fr, ja, ko and ro. */
    locale?: string;
    /** Replaces the widget's own words, by key (README, "Words"). */
    strings?: Record<string, string>;
    /** Custom properties only, e.g. `{'--uplift-accent': '#0a7'}`. */
    theme?: Record<`--uplift-${string}`, string>;
  }

  interface UpliftMountOptions {
    placement?: string;
    /** `'pricing'` (or the `plans` placement) draws the pricing table. */
    style?: 'banner' | 'button' | 'pricing';
  }

  interface UpliftReason {
    key: string;
    text?: string;
  }

  interface UpliftDowngradeChoice {
    choice: 'downgrade' | 'stay' | 'offer';
    offer_id?: string;
    upgrade_id?: string;
    reason?: UpliftReason;
  }

  interface UpliftPreviewOptions {
    screen: 'banner' | 'button' | 'modal' | 'post_order' | 'retention';
    offer?: object;
    quote?: object;
  }

  interface UpliftApi {
    /** Queue form: `Uplift('mount', el, opts)` is `Uplift.mount(el, opts)`. */
    (command: 'init', options: UpliftInitOptions): void;
    (command: 'token', source: UpliftTokenSource): void;
    (command: 'mount', target: Element | string, options?: UpliftMountOptions): void;
    (command: 'open', offerId: string, opener?: Element): void;
    (command: 'postOrder', options?: { orderId?: string }): void;
    (command: 'confirmDowngrade', options?: { toPlan?: string }): void;
    init(options: UpliftInitOptions): void;
    token(source: UpliftTokenSource): void;
    /** Resolves with the number of offers (or plans) drawn; 0 also emits `uplift:empty`. */
    mount(target: Element | string, options?: UpliftMountOptions): Promise<number | undefined>;
    open(offerId: string, opener?: Element): Promise<void>;
    /** Resolves true if a popup was shown. */
    postOrder(options?: { orderId?: string }): Promise<boolean | undefined>;
    /** Never rejects. */
    confirmDowngrade(options?: { toPlan?: string }): Promise<UpliftDowngradeChoice>;
    /** For the admin console's live preview only. */
    preview(target: Element, options: UpliftPreviewOptions): Promise<unknown>;
    readonly version: string;
  }

  /** Before the script has loaded: the queue stub of the embed snippet. */
  interface UpliftQueueStub {
    (...command: unknown[]): void;
    q?: unknown[][];
  }

  interface UpliftAcceptedDetail {
    offer_id?: string;
    upgrade_id?: string;
    status?: string;
    amount_paid?: number;
    kind?: string;
    order_id?: string;
    choice?: 'offer';
    to_plan?: string;
  }

  interface UpliftDeclinedDetail {
    offer_id?: string;
    upgrade_id?: string;
    order_id?: string;
    choice?: 'downgrade';
    to_plan?: string;
    /** The bank's text for a declined card; `{key, text?}` when the customer said why. */
    reason?: string | UpliftReason;
  }

  interface UpliftDismissedDetail {
    offer_id?: string;
    order_id?: string;
    reason?: UpliftReason;
  }

  interface UpliftAnsweredDetail {
    offer_id: string;
    choice?: string;
    score?: number;
    text?: string;
  }

  interface UpliftEmptyDetail {
    placement: string | null;
  }

  interface UpliftErrorDetail {
    code: string;
    message: string;
    where: string;
  }

  /** The widget's events: on `document`, and bubbling from a placement's element. */
  interface UpliftEventMap {
    'uplift:accepted': CustomEvent<UpliftAcceptedDetail>;
    'uplift:declined': CustomEvent<UpliftDeclinedDetail>;
    'uplift:dismissed': CustomEvent<UpliftDismissedDetail>;
    'uplift:answered': CustomEvent<UpliftAnsweredDetail>;
    'uplift:empty': CustomEvent<UpliftEmptyDetail>;
    'uplift:error': CustomEvent<UpliftErrorDetail>;
  }

  interface DocumentEventMap extends UpliftEventMap {}
  interface HTMLElementEventMap extends UpliftEventMap {}

  /** `<uplift-offers placement="billing" display="banner">` */
  interface UpliftOffersElement extends HTMLElement {}
  /** `<uplift-pricing placement="plans">`: the pricing table. */
  interface UpliftPricingElement extends HTMLElement {}
  /** `<uplift-upgrade offer="offer_basic_to_pro">Upgrade to Pro</uplift-upgrade>` */
  interface UpliftUpgradeElement extends HTMLElement {}

  interface HTMLElementTagNameMap {
    'uplift-offers': UpliftOffersElement;
    'uplift-pricing': UpliftPricingElement;
    'uplift-upgrade': UpliftUpgradeElement;
  }

  interface Window {
    Uplift: UpliftApi | UpliftQueueStub;
  }

  /** The attributes of the elements, for JSX (React, Preact, Solid) and templates. */
  interface UpliftElementAttributes {
    'uplift-offers': { placement?: string; display?: 'banner' | 'button' };
    'uplift-pricing': { placement?: string };
    'uplift-upgrade': { offer: string };
  }
}
