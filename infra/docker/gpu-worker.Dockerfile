# GPU worker: training and evaluation with @tensorflow/tfjs-node-gpu 4.22, which links
# libtensorflow 2.9.1 built for CUDA 11.2 and cuDNN 8.1.
# Build from the repository root: docker build -f infra/docker/gpu-worker.Dockerfile -t retrain-gpu-worker .
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
ARG NODE_MAJOR=20
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg python3 make g++ \
    && curl -fsSL https://deb.nodesource.com/setup_${NODE_MAJOR}.x | bash - \
    && apt-get install -y --no-install-recommends nodejs \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY infra ./infra
ENV RETRAIN_SKIP_CHROMIUM=1
RUN node infra/setup.mjs \
    && npm install --no-save --ignore-scripts=false @tensorflow/tfjs-node-gpu@4.22.0
COPY . .
RUN npm run build
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/retrain.js", "gpu-worker"]
