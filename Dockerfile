# One image for the API and the workers (docker-compose.yml picks the command).
#   docker build -t headstart .
# GPU workers: build with a CUDA torch index, e.g.
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 -t headstart:cuda .
FROM python:3.11-slim

# Embedder weights ship in Python packages: never reach out to the Hugging Face Hub.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false

# torch first, pinned, from the PyTorch index (CPU by default): resolving it from
# PyPI through the project would pull the multi-GB CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0

WORKDIR /app

# Dependencies in their own layer, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Only the packages: no tests, no local data, no `.env` (settings come from the environment).
# README.m[d]: copied when present (the glob may match nothing).
COPY pyproject.toml README.m[d] ./
COPY shared ./shared
COPY api ./api
COPY workers ./workers
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 headstart \
    && mkdir -p /data/models /data/qdrant /data/onnx \
    && chown -R headstart /data

USER headstart
# /data/onnx: the embedders' ONNX exports (written at first use; /app is not writable).
ENV HEADSTART_MODEL_STORE=/data/models \
    HEADSTART_QDRANT_PATH=/data/qdrant \
    HEADSTART_ONNX_CACHE_DIR=/data/onnx \
    HEADSTART_API_HOST=0.0.0.0

EXPOSE 8000
CMD ["gunicorn", "api:create_app()", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "2", "--threads", "8"]
