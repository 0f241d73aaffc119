# CPU worker: data stages (and training on tfjs-node when no GPU worker runs).
# Build from the repository root: docker build -f infra/docker/cpu-worker.Dockerfile -t retrain-cpu-worker .
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip make g++ ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY infra ./infra
# setup installs the npm packages and builds tfjs-node against the tensorflow-cpu wheel from PyPI.
ENV RETRAIN_SKIP_CHROMIUM=1
RUN node infra/setup.mjs
COPY . .
RUN npm run build && npm prune --omit=dev
USER node
# SIGTERM starts a graceful shutdown: polling stops and running activities get the grace time.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/retrain.js", "worker"]
CMD ["--queues", "cpu"]
