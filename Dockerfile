# syntax=docker/dockerfile:1
# lease-costs runs its TypeScript through tsx (a production dependency), so nothing is compiled.

# Build stage: full install, used only to type-check; the runtime stage copies its checked sources,
# so a tree that does not type-check cannot become an image.
# The current Node LTS (the SDK will require Node 22+ from 2027); CI proves the pinned set on Node 20.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json vitest.config.ts ./
COPY bin ./bin
COPY src ./src
COPY activities ./activities
COPY workflows ./workflows
# tsc also checks test/ and infra/ (the CDK app); neither reaches the runtime image.
COPY test ./test
COPY infra ./infra
RUN npx tsc --noEmit

# Runtime stage: production dependencies only, no test code, non-root.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/tsconfig.json ./
COPY --from=build /app/bin ./bin
COPY --from=build /app/src ./src
COPY --from=build /app/activities ./activities
COPY --from=build /app/workflows ./workflows
USER node
# worker: Prometheus /metrics when METRICS_BIND_ADDRESS is set; webhook: WEBHOOK_PORT.
EXPOSE 8080 9464
ENTRYPOINT ["node", "bin/lease-costs.mjs"]
CMD ["worker"]
