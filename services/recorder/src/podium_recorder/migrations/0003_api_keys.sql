-- API keys: who may call the gateway, and the tenant each caller acts for. Only a digest
-- of each key's secret is stored; the key itself is shown once, when it is created.
CREATE TABLE api_keys (
    -- The key's public part, in front of its secret: `podium_<key_id>_<secret>`.
    key_id        text PRIMARY KEY,
    secret_sha256 bytea NOT NULL,
    tenant        text NOT NULL,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- A tenant's goals, newest first: what `GET /goals` lists for a key.
CREATE INDEX goals_tenant_seq ON goals (tenant, seq);
