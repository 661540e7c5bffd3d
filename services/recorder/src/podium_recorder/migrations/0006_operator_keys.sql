-- Operator keys: besides their tenant's goals, they reach what belongs to no one tenant and
-- to every tenant at once (the dead letters, which carry any tenant's records, their
-- re-drive, and the workers). Every existing key stays a tenant's key only.
ALTER TABLE api_keys ADD COLUMN operator boolean NOT NULL DEFAULT false;
