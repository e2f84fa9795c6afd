# Larder: the CLI and `larder serve`, built from this repository.
#
#   docker build -t larder .
#   docker run --rm larder --help
#
# One stage: feature repositories' TypeScript files (larder.config.ts, features.ts) are loaded at run
# time through tsx, and the example's data generator runs through it too, so the dev dependencies stay.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production \
    CI=1

# Dependencies first (cached while only sources change); --ignore-scripts skips `prepare` (the
# build) until the sources are in. Native bindings (lmdb, esbuild, DuckDB) come prebuilt in their
# platform packages, so no compiler is needed.
COPY package.json package-lock.json ./
RUN npm ci --include=dev --ignore-scripts

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY examples ./examples
RUN npm run build

EXPOSE 6566
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
