#!/usr/bin/env bash
# Everything CI runs: formatting, lints with warnings denied, the whole test
# suite (Rust, then real clients against a real server: the Python Datadog
# client, syslog-ng, psql, psycopg, pgjdbc, an S3 API server from moto, the
# audit gateway with an OIDC issuer from npm, the web UI in Debian's chromium).
# Installs what the tests need first: Debian's syslog-ng, PostgreSQL client,
# Java runtime, JDBC driver, chromium and openssl (test certificates) packages, npm packages and a Python
# virtualenv with the pinned clients. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy 2>/dev/null || true
cargo fmt --version
cargo clippy --version

step "Debian packages the tests need"
packages=()
dpkg -s syslog-ng-core >/dev/null 2>&1 || packages+=(syslog-ng-core)
dpkg -s syslog-ng-mod-http >/dev/null 2>&1 || packages+=(syslog-ng-mod-http)
command -v psql >/dev/null 2>&1 || packages+=(postgresql-client)
command -v java >/dev/null 2>&1 || packages+=(default-jre-headless)
dpkg -s libpostgresql-jdbc-java >/dev/null 2>&1 || packages+=(libpostgresql-jdbc-java)
[[ -x /usr/bin/chromium ]] || packages+=(chromium)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
if ((${#packages[@]})); then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
echo "syslog-ng: $(syslog-ng --version | head -1)"
echo "psql: $(psql --version)"
echo "java: $(java -version 2>&1 | head -1), pgjdbc: $(readlink -f /usr/share/java/postgresql.jar)"
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"

step "shared specs"
shared="${EVIDENT_SHARED_DIR:-../shared}"
if [[ ! -f "$shared/spec/search-conformance.jsonl" ]]; then
    echo "error: $shared/spec/search-conformance.jsonl not found; put shared/ beside the checkout or set EVIDENT_SHARED_DIR" >&2
    exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "crate layering"
python3 scripts/check_layers.py

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast

step "real clients: Python datadog-api-client, syslog-ng http(), psycopg and pgjdbc (PostgreSQL wire), moto (S3), the gateway with oauth2-mock-server (OIDC)"
venv="${EVIDENT_VENV:-$HOME/.cache/evident/venv}"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
step "npm packages the tests need: oauth2-mock-server (the gateway's OIDC issuer), playwright-core (the UI)"
node --version
(cd tests/clients/oidc && npm ci --silent --no-audit --no-fund)
(cd tests/ui && npm ci --silent --no-audit --no-fund)
cargo build --locked -p evident
# What an attacker with write access to the data directory could do (the UI tamper test).
cargo build --locked -p evident-store --example alter_event
EVIDENT_BIN="${CARGO_TARGET_DIR:-target}/debug/evident" "$venv/bin/python" -m pytest -q tests/clients

step "the web UI in Debian's chromium (playwright-core); screenshots in ${EVIDENT_UI_ARTIFACTS:-target/ui-artifacts}"
EVIDENT_BIN="${CARGO_TARGET_DIR:-target}/debug/evident" \
    EVIDENT_ALTER_EVENT="${CARGO_TARGET_DIR:-target}/debug/examples/alter_event" node --test tests/ui/
