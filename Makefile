# Developer entry points. `make help` lists them.
#
# The image cannot be built without a container engine (docker or podman); everything else
# runs on a bare Debian machine. helm and kubectl default to the ones the test control plane
# builds (scripts/build-controlplane.sh) when they are not on PATH.

IMAGE ?= heartbeat-operator
TAG ?= dev
ENGINE ?= docker
KIND ?= kind
KIND_CLUSTER ?= heartbeat
RELEASE ?= heartbeat
NAMESPACE ?= heartbeat
PYTHON ?= .venv/bin/python

CONTROLPLANE_BIN = $(shell $(PYTHON) -c 'from hb_controlplane.binaries import bin_dir; print(bin_dir())' 2>/dev/null)
HELM ?= $(or $(shell command -v helm 2>/dev/null),$(CONTROLPLANE_BIN)/helm)
KUBECTL ?= $(or $(shell command -v kubectl 2>/dev/null),$(CONTROLPLANE_BIN)/kubectl)
HADOLINT ?= $(or $(shell command -v hadolint 2>/dev/null),.venv/bin/hadolint)

CHART = helm/heartbeat

.PHONY: help image kind-up kind-load install test stack lint sync-crds

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

image:  ## build the one image for every role ($(IMAGE):$(TAG))
	$(ENGINE) build -t $(IMAGE):$(TAG) .

kind-up:  ## create the kind cluster of kind-config.yaml (ping server on localhost:8000)
	$(KIND) create cluster --config kind-config.yaml --name $(KIND_CLUSTER)

kind-load: image  ## build the image and load it into the kind cluster
	$(KIND) load docker-image $(IMAGE):$(TAG) --name $(KIND_CLUSTER)

install:  ## helm upgrade --install the chart with the kind values
	$(KUBECTL) apply --server-side -f $(CHART)/crds/
	$(HELM) upgrade --install $(RELEASE) $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  -f $(CHART)/ci/kind-values.yaml --set image.repository=$(IMAGE) --set image.tag=$(TAG)

test:  ## set up, then ruff, mypy and the whole pytest suite
	scripts/test.sh

stack:  ## set up, then Redis + ping server + worker + a sample check on loopback
	scripts/stack.sh

lint:  ## ruff, mypy, hadolint on the Dockerfile, helm lint on the chart
	.venv/bin/ruff check .
	.venv/bin/mypy
	$(HADOLINT) Dockerfile
	$(HELM) lint --strict $(CHART)
	@for f in $(CHART)/ci/*-values.yaml; do $(HELM) lint --strict $(CHART) -f $$f >/dev/null || exit 1; done

sync-crds:  ## copy the CRDs (single source: crds/) into the chart
	rm -f $(CHART)/crds/*.yaml
	cp crds/*.yaml $(CHART)/crds/
