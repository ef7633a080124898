# syntax=docker/dockerfile:1
# Three stages: `build` compiles TypeScript with every dependency; `deps` installs the production
# dependencies only (no dev or test packages reach the image); the runtime stage holds dist/, those
# node_modules, package.json and the sample data, owned by root and read-only to the agent.
# test/deploy/pod-run-image.int-spec.ts starts the agent as this file's ENV, USER, WORKDIR, VOLUME, CMD and HEALTHCHECK say.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="featbit-agent-ts" \
      org.opencontainers.image.description="FeatBit relay proxy agent (TypeScript): serves FeatBit SDKs from a cached replica of the flags" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/featbit/featbit-agent-ts" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# Everything the agent writes lives under /data (one volume, owned by the runtime user).
ENV NODE_ENV=production \
    PORT=6100 \
    SQLITE_PATH=/data/featbit.db \
    INSIGHTS_DIR=/data/insights
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY data ./data
RUN mkdir -p /data/insights && chown -R 1000:1000 /data
VOLUME /data
# The node user of the base image, numeric so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 6100
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||6100)+'/health/liveness').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# --single-threaded-gc: V8 collects garbage on the event loop's thread, in bounded steps, instead of
# on helper threads. In a container given one CPU or less, those threads take the CPU from the
# event loop for whole scheduler slices (README, "Garbage collection on one CPU").
CMD ["node", "--single-threaded-gc", "dist/main.js"]
