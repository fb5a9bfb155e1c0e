-- API keys (issue 12). A key is stored only as the SHA-256 of its text (see src/core/api-key.ts
-- for why a fast hash is right for 256-bit random keys): whoever reads this table cannot use a key.
-- A name is unique among keys not revoked: revoking frees it, and a new key of that name is the
-- same principal (key:<name>) and so owns that name's tasks.
CREATE TABLE api_key (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  scopes text[] NOT NULL,
  secret_sha256 text NOT NULL UNIQUE CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);

CREATE UNIQUE INDEX api_key_live_name ON api_key (name) WHERE revoked_at IS NULL;
