# syntax=docker/dockerfile:1
# Build stage: full install, type-check and lint, then `npm run build`: the CLI compiled to
# JavaScript in dist/ and the workflow bundle next to it, so nothing is compiled or bundled at start
# and the container runs on a read-only root filesystem (a tmpfs on /tmp is all it writes to).
# The base is an argument only so that a machine with no registry can build on a local copy of it
# (scripts/image-check.sh); anywhere else leave it to the official image.
ARG NODE_IMAGE=node:24-bookworm-slim
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json eslint.config.js vitest.config.ts .prettierrc.json .prettierignore ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
COPY activities ./activities
COPY workflows ./workflows
# tsc and lint also check support/, test/, bench/ and infra/ (the CDK app); they never reach the
# runtime image, and the build refuses to bundle anything from support/ or test/ into dist/.
COPY support ./support
COPY test ./test
COPY bench ./bench
COPY infra ./infra
RUN npx tsc --noEmit && npm run lint && npm run build

# Runtime stage: production dependencies only, the native Temporal bridge for this platform only,
# compiled JavaScript only (no TypeScript, no tsx), non-root.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/prune-production.mjs ./scripts/
RUN npm ci --omit=dev --no-audit --no-fund && node scripts/prune-production.mjs && rm -rf scripts && npm cache clean --force
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
USER node
# worker: Prometheus /metrics when METRICS_BIND_ADDRESS is set; webhook: WEBHOOK_PORT (and its /metrics).
EXPOSE 8080 9464
# Node 24's V8 sizes the young generation by the machine's memory, up to 64 MiB per semi-space;
# Node 20's was 16 MiB. At 16, writeReport at 1,000,000 rows peaks ~90 MiB lower (README, "Large reports").
ENTRYPOINT ["node", "--max-semi-space-size=16", "bin/lease-costs.mjs"]
CMD ["worker"]
