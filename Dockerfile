# The pipeline image. Each Kubeflow Pipelines step runs its TFX executor here
# (the compiled spec sets the command: python -m
# tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor), and
# Dataflow workers run here too (--sdk_container_image), so every executor,
# run_fn and Beam stage finds the installed package.
FROM python:3.11-slim-bookworm

ENV TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /pipeline
COPY constraints.txt setup.py ./
COPY components/ components/
COPY models/ models/
COPY serving/ serving/
COPY testing/ testing/
COPY tfx_pipeline/ tfx_pipeline/

# pyfarmhash and crcmod come as source only: compile them, then drop g++.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && pip install --ignore-requires-python -c constraints.txt . \
    && apt-get purge -y --auto-remove g++ \
    && rm -rf /var/lib/apt/lists/*

# Beam's worker boot program, the entrypoint Dataflow starts (same Beam and
# Python versions as installed above). Kubeflow Pipelines replaces the
# entrypoint with the command of the spec.
COPY --from=apache/beam_python3.11_sdk:2.59.0 /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
