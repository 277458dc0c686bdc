#!/usr/bin/env bash
# Offline checks of the AWS SAM template (no AWS account or network needed, except PyPI the
# first time, to install the pinned tools into a virtualenv outside the repository).
#
#   bash deploy/check.sh
#
# 1. cfn-lint deploy/template.yaml                      no errors and no warnings
# 2. checkov on deploy/template.yaml                    no failed checks (skips are inline, with reasons)
# 3. the same two on parameter variants (Image package, existing VPC, logs endpoint), because both
#    tools evaluate conditions with the parameter defaults only
# 4. the AWS SAM transform (aws-sam-translator) of each variant, then cfn-lint and checkov on the
#    resulting CloudFormation: cfn-lint 1.x validates SAM resources against schemas only
# 5. cfn-guard with the AWS Guard Rules Registry's HIPAA Security rule set on each transformed
#    variant: no failed rule. Rules that cannot apply are suppressed inline in the template
#    (Metadata: guard: SuppressedRules, with the reason in a comment beside them) and listed below.
# 6. the transformed template's API: preflights public, everything else behind the authorizer
# 7. unit tests of the migration custom resource's inline Python
#
# The rule set is deploy/aws-guard/hipaa-security (an unchanged copy of the registry's, Apache-2.0,
# with its LICENSE and NOTICE; NAVIGATOR_HIPAA_RULES reads another); cfn-guard is installed with
# `cargo install cfn-guard --locked` (about 4 minutes on 2 cores) unless the pinned version is on
# PATH.
#
# Exits non-zero on the first failure.
set -euo pipefail

CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
SAM_TRANSLATOR_VERSION=1.115.0
CFN_GUARD_VERSION=3.2.1

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
template=deploy/template.yaml
venv="${NAVIGATOR_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/navigator-deploy-tools}"
py="$venv/bin/python"

tools_ok() {
    [ -x "$venv/bin/cfn-lint" ] && [ -x "$venv/bin/checkov" ] || return 1
    [ "$("$venv/bin/cfn-lint" --version 2>/dev/null)" = "cfn-lint $CFN_LINT_VERSION" ] || return 1
    [ "$("$venv/bin/checkov" --version 2>/dev/null)" = "$CHECKOV_VERSION" ] || return 1
    "$py" -c "import samtranslator, sys; sys.exit(samtranslator.__version__ != '$SAM_TRANSLATOR_VERSION')" 2>/dev/null
}

if ! tools_ok; then
    echo "== installing cfn-lint $CFN_LINT_VERSION, checkov $CHECKOV_VERSION, aws-sam-translator $SAM_TRANSLATOR_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION" "aws-sam-translator==$SAM_TRANSLATOR_VERSION"
    tools_ok || { echo "tool installation did not give the pinned versions" >&2; exit 1; }
fi

hipaa_rules="${NAVIGATOR_HIPAA_RULES:-$repo/deploy/aws-guard/hipaa-security}"
[ -d "$hipaa_rules" ] || { echo "FAILED: no HIPAA rule set at $hipaa_rules (set NAVIGATOR_HIPAA_RULES)" >&2; exit 1; }
if [ "$(cfn-guard --version 2>/dev/null)" != "cfn-guard $CFN_GUARD_VERSION" ]; then
    echo "== installing cfn-guard $CFN_GUARD_VERSION (cargo install --locked)"
    cargo install --quiet --locked --version "$CFN_GUARD_VERSION" cfn-guard
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run_checkov() {
    # checkov exits 1 when a check fails; --quiet prints only the summary (and any failures).
    local out args=()
    for file in "$@"; do args+=(-f "$file"); done
    if ! out="$("$venv/bin/checkov" "${args[@]}" --framework cloudformation --compact --quiet --skip-download 2>&1)"; then
        echo "$out"
        echo "FAILED: checkov on $*" >&2
        exit 1
    fi
    echo "$out" | grep -E "Passed checks|Failed checks" || { echo "$out"; echo "FAILED: no checkov summary for $*" >&2; exit 1; }
    if ! echo "$out" | grep -q "Failed checks: 0,"; then echo "$out"; exit 1; fi
}

run_cfn_lint() {
    # Exit code 0 means no errors, no warnings and no informational findings.
    if ! "$venv/bin/cfn-lint" "$@"; then
        echo "FAILED: cfn-lint on $*" >&2
        exit 1
    fi
    echo "cfn-lint $CFN_LINT_VERSION: no errors, no warnings: $*"
}

echo "== cfn-lint $template"
run_cfn_lint "$template"

echo "== checkov -f $template --framework cloudformation --compact --quiet --skip-download"
run_checkov "$template"

echo "== parameter variants (${work}/variants) and their SAM transform (${work}/transformed)"
"$py" deploy/template_variants.py variants "$template" "$work/variants" >/dev/null
mkdir -p "$work/transformed"
for variant in "$work"/variants/*.json; do
    "$py" deploy/template_variants.py transform "$variant" "$work/transformed/$(basename "$variant")"
done
cd "$work"
generated=(variants/*.json transformed/*.json)
run_cfn_lint "${generated[@]}"
run_checkov "${generated[@]}"
cd "$repo"

echo "== cfn-guard $CFN_GUARD_VERSION, HIPAA Security rule set ($(ls "$hipaa_rules" | wc -l) rules), on each transformed variant"
for transformed in "$work"/transformed/*.json; do
    if ! out="$(cfn-guard validate --rules "$hipaa_rules" --data "$transformed" --show-summary fail 2>&1)"; then
        echo "$out" | grep -E "FAIL|Violation|Resource" | head -40
        echo "FAILED: cfn-guard on $(basename "$transformed")" >&2
        exit 1
    fi
    echo "cfn-guard: 0 failed rules: $(basename "$transformed")"
done
echo "rules suppressed inline (reasons in deploy/template.yaml beside each):"
grep -hoE "SuppressedRules: \[[A-Z_, ]+\]" "$template" | sed 's/SuppressedRules: //' | tr -d '[]' | tr ',' '\n' |
    sed 's/^ *//' | sort | uniq -c | sed 's/^/  /'

echo "== the transformed API: preflights public, every other operation behind the authorizer"
"$py" deploy/test_template.py "$work"/transformed/*.json

echo "== migration custom resource (inline Python)"
"$py" deploy/test_migration_runner.py "$template" | grep -E "^(FAIL|migration-runner:)"

echo "deploy/check.sh: all checks passed"
