-- Cohorts (GET /api/v1/admin/metrics/cohorts, issue 19): the ledger by customer and currency, in
-- time, so each (customer, currency)'s signup and MRR at every month's end are one group read
-- in index order, without a sort of the whole ledger (plugin/storage/cohorts.py).
CREATE INDEX IF NOT EXISTS mrr_movements_customer_currency
    ON mrr_movements (customer_id, currency, occurred_at, kind, amount);
