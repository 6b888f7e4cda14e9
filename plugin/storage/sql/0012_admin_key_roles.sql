-- What an admin key may do: `admin` everything, `read_only` only GET and HEAD (the dashboard,
-- lists and results). Keys made before this migration keep doing everything.
ALTER TABLE admin_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
    CHECK (role IN ('admin', 'read_only'));
