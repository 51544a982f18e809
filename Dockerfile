# One image for every role: `hb server`, `hb worker` (sweeper + notifier), `hb operator`, and
# the `hb` client for job containers (`hb run -- command…`). Build with `make image`.
#
# The base is pinned to an exact Python release; release builds should also pin its digest
# (python:3.12.12-slim-trixie@sha256:…). Every dependency ships manylinux wheels, so neither
# stage needs a compiler, and the final stage gets only the virtualenv.

ARG PYTHON_IMAGE=python:3.12.12-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/hb
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pingserver/ pingserver/
COPY operator/ operator/
COPY cli/ cli/
COPY controlplane/ controlplane/
# Not editable: the package lands in the venv, so /src is not needed at run time. pip and
# setuptools leave the venv afterwards (nothing installs packages in a running container).
RUN /opt/hb/bin/pip install . \
 && /opt/hb/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="heartbeat-operator" \
      org.opencontainers.image.description="Kubernetes-native dead man's switch: ping server, worker, operator and the hb client" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric user, so that runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 hb \
 && useradd --system --uid 10001 --gid hb --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin hb
COPY --from=build /opt/hb /opt/hb
ENV PATH=/opt/hb/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["hb"]
CMD ["--help"]
