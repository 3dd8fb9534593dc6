# The ath-edge render host for providers: `ath-edge provider join` on Node 24 (Debian 13), with what real
# games need (Xvfb, xdotool, PulseAudio, SuperTux). compose.yaml runs it beside Prometheus and Grafana.
#   docker compose up -d --build        (README "For providers": the .env it reads)
FROM node:24-trixie-slim

# SuperTux and the per-session display, input and audio of render-host/apps; tini reaps the game processes.
RUN apt-get update \
  && apt-get install -y --no-install-recommends \
    ca-certificates \
    pulseaudio \
    pulseaudio-utils \
    supertux \
    tini \
    xdotool \
    xvfb \
  && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    SKIP_FFMPEG=true \
    ATH_EDGE_LOG_LEVEL=info

WORKDIR /opt/ath-edge
# Dependencies first (a layer that changes only with the lock file); install scripts follow package.json
# "allowScripts" (.npmrc: strict), so node-av's FFmpeg download never runs.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force
COPY tsconfig.json ./
COPY edge ./edge
COPY signaling ./signaling
COPY render-host ./render-host
COPY client ./client
COPY metrics ./metrics

# Keys (the provider wallet: keep this volume), logs and the per-session homes live in /data.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node

# The probe and /metrics server (renderHost.probePort); WebRTC media uses the ports of ice.portRange.
EXPOSE 9100
# Unhealthy after 5 minutes of failures (joining stakes on chain first, which may take a while).
HEALTHCHECK --interval=30s --timeout=5s --retries=10 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9100/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["tini", "-g", "--", "node", "edge/bin/ath-edge.js"]
CMD ["provider", "join", "--data-dir", "/data", "--set", "renderHost.probePort=9100", "--set", "renderHost.apps=auto"]
