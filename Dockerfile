# syntax=docker/dockerfile:1
# mcp-bridge as a container: a build stage (TypeScript → dist/), then a runtime stage with the
# production dependencies only, running as the unprivileged `node` user. docs/scaling.md.
#
#   docker build -t mcp-bridge .
#   docker run -p 8080:8080 -v $PWD/mcp-bridge.yaml:/etc/mcp-bridge/config.yaml:ro mcp-bridge

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY dashboard ./dashboard
COPY README.md CHANGELOG.md ./
COPY docs ./docs
# The gateway listens on all addresses inside the container; the config file decides the rest.
ENV BRIDGE_HOST=0.0.0.0
USER node
EXPOSE 8080 8091 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.BRIDGE_PORT||8080)+'/healthz',{headers:{host:'127.0.0.1'}}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--config", "/etc/mcp-bridge/config.yaml"]
