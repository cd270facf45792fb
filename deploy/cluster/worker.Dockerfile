# ratchet worker: this repository and its runtime dependencies, running `npm run worker` (tsx, no build step).
# Build from the repository's top folder:
#   docker build -f deploy/cluster/worker.Dockerfile -t ratchet-worker .
# Agents are commands the worker runs: derive an image from this one that installs yours (claude, codex, aider...).
FROM node:20.19.5-bookworm-slim

# git: worktrees and merges. bubblewrap: boxes agents where the container may create user namespaces (otherwise the
# worker says NO SANDBOX at start, see deploy/cluster/README.md). tini: reaps the agents' and gates' orphans as pid 1.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git bubblewrap ca-certificates tini \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: see .ci/run (some registries lack platform builds of @swc/core the lock file lists).
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .

USER node
ENV NODE_ENV=production \
    TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_NAMESPACE=default
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["npm", "run", "worker"]
