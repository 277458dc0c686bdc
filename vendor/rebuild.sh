#!/usr/bin/env bash
# Rebuilds vendor/sqlx-core from the registry's pristine crate plus
# vendor/patches/*.patch (applied in name order, without fuzz), or with
# --check fails if vendor/sqlx-core differs from that (CI runs the check).
#
#   vendor/rebuild.sh [--check]
#
# The pristine crate is the .crate file cargo keeps in its registry cache
# ($CARGO_HOME/registry/cache/*/sqlx-core-$VERSION.crate); if it is not
# there, cargo fetches it for a throwaway crate that depends on exactly
# that version. To move to another version: change VERSION, run this
# script, fix the patches that no longer apply, then `cargo update -p sqlx
# --precise $VERSION` (and the other sqlx crates) so Cargo.lock matches.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.9.1
CRATE=sqlx-core
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: vendor/rebuild.sh [--check]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

find_crate() { compgen -G "$CARGO_HOME/registry/cache/*/$CRATE-$VERSION.crate" | head -n 1 || true; }
crate_file=$(find_crate)
if [ -z "$crate_file" ]; then
  mkdir -p "$work/fetch/src"
  printf '[package]\nname = "fetch-pristine"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n%s = "=%s"\n' \
    "$CRATE" "$VERSION" >"$work/fetch/Cargo.toml"
  : >"$work/fetch/src/lib.rs"
  (cd "$work/fetch" && cargo fetch --quiet)
  crate_file=$(find_crate)
  [ -n "$crate_file" ] || { echo "cargo fetched no $CRATE-$VERSION.crate" >&2; exit 1; }
fi

tar -xzf "$crate_file" -C "$work"
tree="$work/$CRATE-$VERSION"
for patch_file in vendor/patches/*.patch; do
  if ! patch --quiet --batch --forward --fuzz=0 --no-backup-if-mismatch -p1 -d "$tree" <"$patch_file"; then
    echo "FAILED: $patch_file does not apply to pristine $CRATE $VERSION" >&2
    exit 1
  fi
done

if [ "$check" = 1 ]; then
  if ! diff -r "$tree" "vendor/$CRATE"; then
    echo "FAILED: vendor/$CRATE is not pristine $CRATE $VERSION plus vendor/patches; run vendor/rebuild.sh" >&2
    exit 1
  fi
  echo "vendor/$CRATE is pristine $CRATE $VERSION plus $(ls vendor/patches/*.patch | wc -l) patches"
else
  rm -rf "vendor/$CRATE"
  mv "$tree" "vendor/$CRATE"
  echo "vendor/$CRATE rebuilt: pristine $CRATE $VERSION plus $(ls vendor/patches/*.patch | wc -l) patches"
fi
