#!/usr/bin/env bash
# Generates local secrets once (never a well-known example secret): data/dev.env for the origin
# and .dev.vars for `wrangler dev`. Re-running keeps the existing ones.
source "$(dirname "$0")/lib.sh"
mkdir -p data
if [ ! -f data/dev.env ]; then
  step "secrets: generating local secrets in data/dev.env and .dev.vars"
  rand_hex() { python3 -c "import secrets; print(secrets.token_hex($1))"; }
  demo_k=$(python3 -c "import secrets,base64; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b'=').decode())")
  umask 077
  cat > data/dev.env <<ENV
ENVELOPE_SECRET=$(rand_hex 32)
KEY_ENCRYPTION_KEY=$(rand_hex 32)
PASSWORD_PEPPER=$(rand_hex 32)
DEMO_HS_JWKS={"keys":[{"kty":"oct","kid":"demo-1","alg":"HS256","k":"$demo_k"}]}
WEBHOOK_STRIPE={"provider":"stripe","secrets":["whsec_$(rand_hex 24)"]}
WEBHOOK_GITHUB={"provider":"github","secrets":["$(rand_hex 24)"]}
WEBHOOK_STANDARD={"provider":"standard","secrets":["whsec_$(python3 -c "import secrets,base64; print(base64.b64encode(secrets.token_bytes(32)).decode())")"]}
ENV
fi
# wrangler reads secrets for local runs from .dev.vars (values there override wrangler.toml's
# [vars]): the secrets, plus a demo HS256 issuer whose tokens scripts/mint_token.py mints.
{
  # Local runs reach the origin on loopback, which a production Worker refuses (DEPLOY_ENV).
  echo 'DEPLOY_ENV=development'
  echo 'ORIGIN_URL=http://127.0.0.1:8788'
  grep -E '^(ENVELOPE_SECRET|DEMO_HS_JWKS|WEBHOOK_[A-Z_]+)=' data/dev.env
  echo 'ISSUERS=[{"issuer":"http://127.0.0.1:8788","audiences":["edge-auth"],"jwks_url":"http://127.0.0.1:8788/.well-known/jwks.json"},{"issuer":"edge-auth-demo","audiences":["edge-auth"],"jwks_secret":"DEMO_HS_JWKS"}]'
} > .dev.vars
