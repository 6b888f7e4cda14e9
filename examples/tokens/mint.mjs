// Mint an Uplift customer token in Node.js, with node:crypto only (docs/tokens.md).
//
//   UPLIFT_WIDGET_SECRET=... node mint.mjs CUSTOMER_ID [STRIPE_CUSTOMER]
import { createHmac } from 'node:crypto';

const b64url = (data) => Buffer.from(data).toString('base64url');

export function customerToken(secret, customerId, stripeCustomer, ttl = 900) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: customerId, iat: now, exp: now + ttl };
  if (stripeCustomer) claims.stripe_customer = stripeCustomer;
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
  return `${header}.${body}.${signature}`;
}

const [customerId, stripeCustomer] = process.argv.slice(2);
console.log(customerToken(process.env.UPLIFT_WIDGET_SECRET, customerId, stripeCustomer));
