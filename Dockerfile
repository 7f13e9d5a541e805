# syntax=docker/dockerfile:1
# SealTrace: one image for the HTTP API (`node service/main.ts --http`), the workers (`--worker`),
# the one-shot registry deployment (`node scripts/deploy.ts`) and, for development, the Hardhat
# chain node. docker-compose.yml wires them together.
FROM node:24-bookworm-slim

ENV HARDHAT_DISABLE_TELEMETRY_PROMPT=true \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app
RUN chown node:node /app
USER node

# Dependencies first, so that editing the source does not reinstall them. Dev dependencies stay:
# Hardhat compiles the contract below and serves the development chain, and Node runs our .ts
# files directly (type stripping), so there is no separate build output to copy.
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci

COPY --chown=node:node . .
# DATA_DIR, owned by node so a named volume mounted on it (docker-compose.yml) is writable.
RUN mkdir -p /app/data
# Compiles AnchorRegistry offline (solc-js from the `solc` package, no compiler download):
# artifacts/ holds the bytecode that scripts/deploy.ts and the embedded mode deploy.
RUN npx hardhat build --quiet

ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000
# HTTP and workers in one process; docker-compose.yml runs them as separate services.
CMD ["node", "service/main.ts"]
