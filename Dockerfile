# grpcroute's container image: `docker build -t grpcroute .`, then deploy/ (README "Controller mode").
# Build stage: re2 is a native addon built from source here (node-gyp needs Python, make and a C++ compiler).
FROM node:20-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# `prepare` compiles TypeScript, which needs the sources: install first without scripts, then build re2.
RUN npm ci --ignore-scripts && npm rebuild re2
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

# Run stage: the same Node major and libc as the build stage (re2.node links against them), no compilers.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# 65532: a non-root user, as deploy/deployment.yaml runs it (runAsNonRoot, read-only root file system;
# generated certificates go to the /tmp volume).
USER 65532:65532
EXPOSE 8080 9901
ENTRYPOINT ["node", "--initial-old-space-size=64", "--max-semi-space-size=4", "--no-parallel-scavenge", "dist/cli/main.js"]
CMD ["controller", "--leader-elect"]
