-- A delivery's 3 days of retries run from `window_start`: its creation, or the admin's retry
-- of a failed delivery (issue 21). `created_at` stays when the event was first fanned out.
ALTER TABLE webhook_deliveries ADD COLUMN window_start INTEGER;
