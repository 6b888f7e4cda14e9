-- An offer's discount, locked into the quote that sells it: the quote's lines already include
-- it (each line's `discount_amount`), and accepting the quote attaches the same coupon to the
-- item it buys so the renewals inside the discount's window are discounted too. JSON text,
-- {"percent_off": 30, "amount_off": null, "duration_months": 3, "ends_at": 1790000000}
-- (`duration_months` null: this invoice only; NULL column: no discount).
ALTER TABLE quotes ADD COLUMN discount TEXT;
