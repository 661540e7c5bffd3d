#!/usr/bin/env bash
# helm lint, then helm template validated by kubeconform against offline JSON schemas
# (Kubernetes, and KEDA's ScaledObject and TriggerAuthentication), for the default values
# and for each values file in helm/podium/ci/, on the oldest and newest Kubernetes the
# chart supports. A resource without a schema fails the check. Run by `make helm-check`.
set -euo pipefail

: "${HELM:?}" "${KUBECONFORM:?}" "${K8S_SCHEMAS:?}" "${KEDA_SCHEMAS:?}" "${K8S_VERSIONS:?}"

chart=helm/podium
rendered=$(mktemp --suffix=.yaml)
report=$(mktemp)
trap 'rm -f "$rendered" "$report"' EXIT

check() {  # check [values file]
    local values=("${@/#/--values=}")
    echo "== ${1:-default values}"
    "$HELM" lint --strict --quiet "$chart" "${values[@]}"
    for version in $K8S_VERSIONS; do
        "$HELM" template podium "$chart" --namespace podium --kube-version "$version" \
            "${values[@]}" > "$rendered"
        if ! "$KUBECONFORM" -strict -summary -kubernetes-version "$version" \
            -schema-location "$K8S_SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
            -schema-location "$KEDA_SCHEMAS/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
            "$rendered" > "$report"; then
            cat "$report"
            exit 1
        fi
        echo "Kubernetes $version: $(cat "$report")"
        # Every rendered resource must have been validated, none skipped.
        grep -q "Valid: $(grep -c '^kind:' "$rendered")," "$report"
    done
}

check
for values in "$chart"/ci/*.yaml; do
    check "$values"
done
