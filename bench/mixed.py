"""The traffic a real site sends (issue 24), for `python3 -m bench --only mixed`.

One stream of requests, written before each run and replayed by wrk, in the mix a SaaS with
the widget on every page sends: of every 20 requests, 14 `GET /api/v1/widget/offers` (70 %), 4
impressions `POST /api/v1/widget/events` (20 %), one `POST /api/v1/usage` (5 %, admin key, a
fresh Idempotency-Key each) and one signed `POST /webhooks/stripe` (5 %,
`customer.subscription.updated` for a seeded subscription, each a distinct event). Each
request is a different customer's, in turn over `customers` (20,000 by default): at the
rates reached here no customer comes near the widget's per-customer limit, and a run with a
single 429 fails its target. Impressions name the variant the customer is assigned, so a
2xx is the only right answer to every request.

Baseline M (bench/baseline_app.py) serves the same shape: the GET answers a constant JSON, each
POST parses its JSON body and answers a small one. The same stream's kinds alone (the
read-only run, then each write on its own) give each kind's own rate and CPU.

wrk cannot tell which request an answer belongs to, so the script counts answers by status
(`STATUS code n`) and reports, per thread, how many requests it generated; the offers answers
that carried at least one offer are counted too (`OFFERED n`), to show the run is not served
empty lists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bench import webhooks, wrk
from plugin.offers.model import Offer

PLANS = ("basic", "pro", "enterprise")  # bench/offers_endpoint.py's ladder, by customer n % 3
AMOUNTS = {"basic": 2900, "pro": 9900, "enterprise": 29900}
PLACEMENTS = ("banner", "settings", "post_order", "limits")
ADMIN_KEY = "uplift_sk_bench_mixed_admin_key_0123456789"

# Kinds, and how many of every 20 requests are of each.
MIX = (("offers", 14), ("impression", 4), ("usage", 1), ("webhook", 1))
ALONE = {kind: ((kind, 1),) for kind, _ in MIX}
# Requests/s no server here reaches: the stream holds this many per second of the run. Past it
# wrk starts over (webhooks become cheap redeliveries), and the caller warns.
RATE_CEILING = 30_000


def _line(method: str, path: str, headers: Sequence[tuple[str, str]], body: str = "") -> str:
    """`method TAB path TAB name TAB value TAB name TAB value TAB body`: two headers at most."""
    pairs = [*headers, ("", ""), ("", "")][:2]
    return "\t".join([method, path, *(f for pair in pairs for f in pair), body])


def write_stream(
    path: Path,
    *,
    count: int,
    tokens: Sequence[str],
    offers: Sequence[Offer],
    now: int,
    mix: Sequence[tuple[str, int]] = MIX,
) -> dict[str, int]:
    """`count` requests in `mix`, one per line for the wrk script; returns how many of each."""
    pattern = [kind for kind, share in mix for _ in range(share)]
    made = dict.fromkeys(pattern, 0)
    with path.open("w") as out:
        for i in range(count):
            kind = pattern[i % len(pattern)]
            made[kind] += 1
            n = (i * 7919) % len(tokens)  # every customer in turn, not in seeding order
            bearer = ("Authorization", f"Bearer {tokens[n]}")
            if kind == "offers":
                query = f"?placement={PLACEMENTS[i % len(PLACEMENTS)]}"
                out.write(_line("GET", "/api/v1/widget/offers" + query, [bearer]))
            elif kind == "impression":
                offer = _shown(offers, n, i)
                seen = {"offer_id": offer.id, "variant": offer.arm_for(f"cust_{n:05d}"),
                        "type": "impression"}  # fmt: skip
                out.write(_line("POST", "/api/v1/widget/events", [bearer], json.dumps(seen)))
            elif kind == "usage":
                body: dict[str, object] = {
                    "customer": f"cust_{n:05d}", "metric": "storage_gb", "value": i % 31
                }  # fmt: skip
                headers = [("Authorization", f"Bearer {ADMIN_KEY}"), ("Idempotency-Key", f"u{i}")]
                out.write(_line("POST", "/api/v1/usage", headers, json.dumps(body)))
            else:
                plan = PLANS[n % 3]
                event = webhooks.subscription_event(
                    f"evt_mixed_{i:08d}", f"sub_{n:05d}", f"cus_{n:05d}", now + i // len(tokens),
                    type="customer.subscription.updated", plan=plan, amount=AMOUNTS[plan],
                )  # fmt: skip
                signature, body_text = webhooks.signed(event, now)
                out.write(
                    _line("POST", "/webhooks/stripe", [("Stripe-Signature", signature)], body_text)
                )
            out.write("\n")
    return made


def _shown(offers: Sequence[Offer], n: int, i: int) -> Offer:
    """An offer whose impression this customer can record: not held out of it."""
    for k in range(len(offers)):
        offer = offers[(i + k) % len(offers)]
        if offer.arm_for(f"cust_{n:05d}") in offer.by_key:
            return offer
    return offers[0]


LUA = (
    wrk.THREADS_LUA
    + """
offered = 0
statuses = {}
function init(args)
  reqs = {}
  for _, line in ipairs(thread_lines(args[1])) do
    local m, p, h1, v1, h2, v2, body = line:match(
      "^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$")
    local headers = {}
    if h1 ~= "" then headers[h1] = v1 end
    if h2 ~= "" then headers[h2] = v2 end
    if body == "" then body = nil else headers["Content-Type"] = "application/json" end
    table.insert(reqs, wrk.format(m, p, headers, body))
  end
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and body and body:find('"offer_id"', 1, true) then offered = offered + 1 end
end
done = function(summary, latency, requests)
  local totals = {}
  local bad = 0
  local offers = 0
  for _, t in ipairs(threads) do
    io.write(string.format("THREAD %d %d\\n", t:get("tid"), t:get("counter")))
    offers = offers + t:get("offered")
    for code, n in pairs(t:get("statuses")) do totals[code] = (totals[code] or 0) + n end
  end
  for code, n in pairs(totals) do
    io.write(string.format("STATUS %d %d\\n", code, n))
    if code < 200 or code > 299 then bad = bad + n end
  end
  io.write(string.format("OFFERED %d\\n", offers))
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests,
           latency:percentile(50), latency:percentile(99),
           summary.errors.connect + summary.errors.read + summary.errors.write
             + summary.errors.timeout + summary.errors.status, bad))
end
"""
)


def parse(out: str) -> dict[str, float]:
    """The STATUS, OFFERED and THREAD lines: answers by status (`status_429`, …), the offers
    answers that held an offer, and the requests generated (`generated_max`: the most of any
    thread, to compare with the stream's length)."""
    found: dict[str, float] = {"offered": 0, "generated_max": 0}
    for row in out.splitlines():
        words = row.split()
        if row.startswith("STATUS "):
            found[f"status_{words[1]}"] = int(words[2])
        elif row.startswith("OFFERED "):
            found["offered"] = int(words[1])
        elif row.startswith("THREAD "):
            found["generated_max"] = max(found["generated_max"], int(words[2]))
    found.setdefault("status_429", 0)
    return found
