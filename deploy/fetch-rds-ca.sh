#!/usr/bin/env bash
# Downloads the RDS certificate bundle (all Regions' certificate authorities) into the layer and
# image build context, deploy/rds-ca-layer/rds-ca/global-bundle.pem, where the functions find it
# as /opt/rds-ca/global-bundle.pem (NAVIGATOR_DB_SSLROOTCERT) to verify the database's
# certificate (verify-full). Run it before `sam build` or `podman build`; it needs the internet.
# The file is not committed: AWS publishes it, and adds certificate authorities to it over time.
set -euo pipefail
cd "$(dirname "$0")"
url=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
out=rds-ca-layer/rds-ca/global-bundle.pem
mkdir -p "$(dirname "$out")"
curl --fail --silent --show-error --proto '=https' --tlsv1.2 -o "$out.tmp" "$url"
count=$(grep -c "BEGIN CERTIFICATE" "$out.tmp" || true)
[ "$count" -gt 0 ] || { echo "no certificates in $url" >&2; rm -f "$out.tmp"; exit 1; }
mv "$out.tmp" "$out"
echo "$out: $count certificates; sha256 $(sha256sum "$out" | cut -d' ' -f1)"
openssl crl2pkcs7 -nocrl -certfile "$out" 2>/dev/null | openssl pkcs7 -print_certs -noout 2>/dev/null |
    grep -c "subject=.*Amazon RDS" | sed 's/^/certificate authorities named Amazon RDS: /' || true
