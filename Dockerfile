# Worker image: dfu-search with TensorFlow (CUDA wheels with EXTRAS=gpu), run as a non-root user.
FROM python:3.11-slim

ARG EXTRAS=gpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DFU_SEARCH_CACHE=/cache

RUN useradd --create-home --uid 1000 dfu && mkdir -p /cache /work && chown dfu:dfu /cache /work
WORKDIR /opt/dfu-search
COPY pyproject.toml README.md ./
COPY trainer ./trainer
COPY search ./search
COPY storage ./storage
COPY demodata ./demodata
RUN pip install ".[${EXTRAS}]"

USER dfu
WORKDIR /work
ENTRYPOINT ["dfu-search"]
CMD ["--help"]
