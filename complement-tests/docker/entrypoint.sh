#!/bin/sh
# Entrypoint of the Complement image of Nexus (complement-tests/docker/Dockerfile).
#
# Complement's image contract (matrix-org/complement README, "Image
# requirements" and "Complement PKI"):
#   - client-server API over plain HTTP on port 8008;
#   - federation over HTTPS on port 8448, with a certificate for $SERVER_NAME
#     signed at start-up by Complement's CA (/complement/ca/ca.crt + ca.key),
#     and that CA trusted for outgoing federation requests (Complement's own
#     fake federation servers present certificates from it);
#   - the server name from $SERVER_NAME (hs1, hs2, ...);
#   - storage inside the container; the entrypoint may run many times on the
#     same container filesystem (Complement snapshots "blueprint" containers
#     and starts them again), so everything here is idempotent;
#   - /_synapse/admin/v1/register with the shared secret `complement`.
#
# Every path is overridable so that the script also runs outside a container
# (that is how it is exercised without Docker):
#   COMPLEMENT_CA_DIR   directory with ca.crt and ca.key   (/complement/ca)
#   NEXUS_DATA_DIR      data directory of the server         (/data)
#   NEXUS_TLS_DIR       where the issued key and certificate go ($NEXUS_DATA_DIR/tls)
#   NEXUS_BIN           the nexus binary                      (nexus, from $PATH)
#   NEXUS_CERT_DAYS     validity of the issued certificate    (7)
#   DRY_RUN=1           print the environment and the command instead of exec'ing
# Any NEXUS__SECTION__KEY already in the environment wins over the defaults
# below (pass them through Complement with COMPLEMENT_SHARE_ENV_PREFIX, e.g.
# COMPLEMENT_SHARE_ENV_PREFIX=PASS_ PASS_NEXUS__LOGGING__LEVEL=debug).
set -eu

log() { printf 'complement-entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -n "${SERVER_NAME:-}" ] || die "SERVER_NAME is not set (Complement sets it to hs1, hs2, ...)"

CA_DIR="${COMPLEMENT_CA_DIR:-/complement/ca}"
DATA_DIR="${NEXUS_DATA_DIR:-/data}"
TLS_DIR="${NEXUS_TLS_DIR:-$DATA_DIR/tls}"
BIN="${NEXUS_BIN:-nexus}"
CERT_DAYS="${NEXUS_CERT_DAYS:-7}"
CA_CRT="$CA_DIR/ca.crt"
CA_KEY="$CA_DIR/ca.key"

[ -r "$CA_CRT" ] || die "no CA certificate at $CA_CRT (Complement mounts it; set COMPLEMENT_CA_DIR outside a container)"
[ -r "$CA_KEY" ] || die "no CA key at $CA_KEY"
command -v openssl >/dev/null 2>&1 || die "openssl is needed to sign the federation certificate"

# The host part of the server name names the certificate: hs1, or the
# hostname/IP literal of "host:port" and "[v6]:port".
case "$SERVER_NAME" in
  \[*\]*) HOST="${SERVER_NAME#\[}"; HOST="${HOST%%\]*}" ;;
  *:*:*) HOST="$SERVER_NAME" ;;        # a bare IPv6 literal
  *) HOST="${SERVER_NAME%:*}" ;;
esac
# SAN is what goes into the certificate; SAN_SHOWN is how `openssl x509
# -ext subjectAltName` prints it (empty: not compared, for IPv6 literals,
# which openssl prints expanded).
case "$HOST" in
  *:*) SAN="IP:$HOST"; SAN_SHOWN="" ;;
  *[!0-9.]*) SAN="DNS:$HOST"; SAN_SHOWN="DNS:$HOST" ;;
  *) SAN="IP:$HOST"; SAN_SHOWN="IP Address:$HOST" ;;
esac
# File names without ':' or '/'.
STEM=$(printf '%s' "$SERVER_NAME" | tr -c 'A-Za-z0-9._-' '_')
CERT="$TLS_DIR/$STEM.crt"     # leaf followed by the CA certificate
KEY="$TLS_DIR/$STEM.key"

mkdir -p "$DATA_DIR" "$TLS_DIR"

# Reuses an existing certificate only when it is still right: signed by the
# CA mounted now (a blueprint image may be started by a later Complement run
# with a new CA), for this name, valid for at least another hour, and
# matching its key. Otherwise a new key and certificate are issued.
cert_is_usable() {
  [ -s "$CERT" ] && [ -s "$KEY" ] || return 1
  openssl verify -CAfile "$CA_CRT" "$CERT" >/dev/null 2>&1 || return 1
  openssl x509 -in "$CERT" -noout -checkend 3600 >/dev/null 2>&1 || return 1
  if [ -n "$SAN_SHOWN" ]; then
    openssl x509 -in "$CERT" -noout -ext subjectAltName 2>/dev/null \
      | tr ',' '\n' | sed 's/^ *//' | grep -Fxq "$SAN_SHOWN" || return 1
  fi
  [ "$(openssl x509 -in "$CERT" -noout -pubkey 2>/dev/null)" = \
    "$(openssl pkey -in "$KEY" -pubout 2>/dev/null)" ] || return 1
}

issue_cert() {
  work=$(mktemp -d "$TLS_DIR/issue.XXXXXX")
  cat >"$work/ext.cnf" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $SAN
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  # A random positive serial: no serial file next to the CA (its directory
  # need not be writable).
  serial="0x7$(openssl rand -hex 15)"
  (umask 077 && openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -keyout "$work/key.pem" -subj "/O=Nexus Complement/CN=$HOST" -out "$work/req.csr" 2>"$work/openssl.log") \
    || { cat "$work/openssl.log" >&2; die "could not make a key and signing request"; }
  openssl x509 -req -in "$work/req.csr" -CA "$CA_CRT" -CAkey "$CA_KEY" -set_serial "$serial" \
    -days "$CERT_DAYS" -sha256 -extfile "$work/ext.cnf" -out "$work/leaf.pem" 2>"$work/openssl.log" \
    || { cat "$work/openssl.log" >&2; die "could not sign the certificate with $CA_KEY"; }
  cat "$work/leaf.pem" "$CA_CRT" >"$work/chain.pem"
  # Key first, then certificate, each replaced atomically.
  mv -f "$work/key.pem" "$KEY"
  mv -f "$work/chain.pem" "$CERT"
  rm -rf "$work"
  log "issued a federation certificate for $SAN, signed by $CA_CRT: $CERT"
}

if cert_is_usable; then
  log "reusing the federation certificate $CERT"
else
  issue_cert
fi

# Defaults for the Complement deployment; anything already set wins.
: "${NEXUS__SERVER__SERVER_NAME:=$SERVER_NAME}"
: "${NEXUS__LISTENERS__CLIENT:=0.0.0.0:8008}"
: "${NEXUS__LISTENERS__FEDERATION:=0.0.0.0:8448}"
: "${NEXUS__STORAGE__PATH:=$DATA_DIR}"
: "${NEXUS__FEDERATION__ENABLED:=true}"
: "${NEXUS__FEDERATION__TLS_CERTIFICATE:=$CERT}"
: "${NEXUS__FEDERATION__TLS_PRIVATE_KEY:=$KEY}"
: "${NEXUS__FEDERATION__TRUSTED_CA_FILES:=[\"$CA_CRT\"]}"
: "${NEXUS__REGISTRATION__ENABLED:=true}"
: "${NEXUS__REGISTRATION__SHARED_SECRET:=complement}"
# Complement registers and logs in hundreds of users from one address.
: "${NEXUS__RATE_LIMITS__LOGIN_PER_SECOND:=1000}"
: "${NEXUS__RATE_LIMITS__LOGIN_BURST:=100000}"
: "${NEXUS__RATE_LIMITS__REGISTER_PER_SECOND:=1000}"
: "${NEXUS__RATE_LIMITS__REGISTER_BURST:=100000}"
: "${NEXUS__LOGGING__LEVEL:=info}"
export NEXUS__SERVER__SERVER_NAME NEXUS__LISTENERS__CLIENT NEXUS__LISTENERS__FEDERATION \
  NEXUS__STORAGE__PATH NEXUS__FEDERATION__ENABLED NEXUS__FEDERATION__TLS_CERTIFICATE \
  NEXUS__FEDERATION__TLS_PRIVATE_KEY NEXUS__FEDERATION__TRUSTED_CA_FILES NEXUS__REGISTRATION__ENABLED \
  NEXUS__REGISTRATION__SHARED_SECRET NEXUS__RATE_LIMITS__LOGIN_PER_SECOND NEXUS__RATE_LIMITS__LOGIN_BURST \
  NEXUS__RATE_LIMITS__REGISTER_PER_SECOND NEXUS__RATE_LIMITS__REGISTER_BURST NEXUS__LOGGING__LEVEL

if [ "${DRY_RUN:-0}" = 1 ]; then
  env | grep '^NEXUS__' | LC_ALL=C sort
  printf 'exec %s serve\n' "$BIN"
  exit 0
fi

exec "$BIN" serve
