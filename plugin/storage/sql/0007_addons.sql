-- Add-on quotes (cross-sell, post-order, bundle offers) add items to the customer's existing
-- subscription instead of changing its plan item. `kind` says which a quote is; `added` lists
-- the items it adds as JSON text, [{"price": "price_…", "quantity": 1}, …] (NULL for a change).
-- The columns describing the plan item (subscription_item_id, from_price, …) still hold the
-- item the quote was computed against: a change to it makes an add-on quote stale too.
ALTER TABLE quotes ADD COLUMN kind TEXT NOT NULL DEFAULT 'change' CHECK (kind IN ('change', 'add'));
ALTER TABLE quotes ADD COLUMN added TEXT;
