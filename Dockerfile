# Risk engine service image. Build: docker build -t risk-engine .
# (podman, as CI does it: bash scripts/build-base-image.sh, then
#  podman build --pull=never --network host -t risk-engine .; see test/support/podman.ts)
#
# Installing: one `npm ci`, in the build stage, with --ignore-scripts, because
# install scripts would run before the sources are copied. Dependencies that need their install script run it after the sources are
# there, with `npm rebuild <name>`: today only better-sqlite3 (a native module: it
# downloads a prebuilt binary, or compiles from source with python3, make and g++ when
# it cannot; no download is reachable from CI, so the toolchain is here). A new
# dependency with an install script must be added to NATIVE_DEPS (test/image checks
# the list against package-lock.json). The runtime stage copies the production
# node_modules built here (same base image, so the same glibc and Node ABI) and needs
# no toolchain and no second install.
FROM node:20-slim AS build
ARG NATIVE_DEPS="better-sqlite3"
RUN apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 make g++ >/dev/null \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# Native modules first: this layer stays cached while only the sources change.
RUN npm rebuild $NATIVE_DEPS
COPY tsconfig.json tsconfig.build.json ./
# Production code only (tsconfig.build.json compiles exactly these): no apps/bench, no test/.
COPY apps/engine ./apps/engine
COPY apps/cli ./apps/cli
COPY libs ./libs
# The CLI compiles in rules/features.json: replay --rules <dir> without one falls back to these defaults.
COPY rules ./rules
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY rules ./rules
COPY schemas ./schemas
RUN mkdir -p /app/data && chown node:node /app/data
USER node
ENV HOST=0.0.0.0 PORT=8080 RULES_DIR=/app/rules DATA_DIR=/app/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM (docker/podman stop) runs the phased shutdown, bounded by SHUTDOWN_TIMEOUT (30s):
# give `stop` a longer grace period than that (e.g. podman stop -t 40).
CMD ["node", "dist/apps/engine/src/main.js"]
