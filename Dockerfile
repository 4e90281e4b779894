# The stream worker: `movierec stream worker` (Faust on Kafka), serving recommendations on :6066.
# Built by docker-compose.yml; the offline artifacts are mounted at /artifacts at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Dependencies first, in their own layer (rebuilt only when pyproject.toml changes), then our code.
COPY pyproject.toml README.md ./
RUN mkdir online schemas offline stream_app replay movierec_cli \
    && touch online/__init__.py schemas/__init__.py offline/__init__.py stream_app/__init__.py \
             replay/__init__.py movierec_cli/__init__.py \
    && pip install . && pip uninstall --yes movierec && rm -rf build
COPY online/ online/
COPY schemas/ schemas/
COPY offline/ offline/
COPY stream_app/ stream_app/
COPY replay/ replay/
COPY movierec_cli/ movierec_cli/
RUN pip install --no-deps . && rm -rf build

RUN useradd --create-home --uid 10001 movierec
USER movierec
WORKDIR /home/movierec

ENV MOVIEREC_ARTIFACTS=/artifacts \
    MOVIEREC_DATA_DIR=/home/movierec/.movierec/faust \
    MOVIEREC_WEB_BIND=0.0.0.0 \
    MOVIEREC_WEB_PORT=6066
EXPOSE 6066

CMD ["movierec", "stream", "worker"]
