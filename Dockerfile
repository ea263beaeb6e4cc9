# Aha on a GPU: vLLM's CUDA image (vLLM 0.32.0, the AsyncLLM API this code targets).
#   docker build -t aha .
#   docker run --gpus all -p 8000:8000 -v /srv/models:/models aha \
#       --preset deepseek-r1-distill-qwen-32b-w8a8 --gpu h100-80gb
FROM vllm/vllm-openai:v0.32.0

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    AHA_HOST=0.0.0.0 \
    AHA_PORT=8000

WORKDIR /opt/aha
COPY pyproject.toml README.md ./
COPY server ./server
COPY distill ./distill
COPY launch ./launch
COPY models ./models
# vLLM (with CUDA torch) comes with the base image: install only Aha's own needs.
RUN pip install --no-deps -e . \
    && pip install "sse-starlette>=3.0" "pydantic-settings>=2.16" "orjson>=3.10" \
    && useradd --create-home --uid 1000 aha \
    && mkdir -p /models \
    && chown aha:aha /models

USER 1000
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["python3", "-m", "server"]
