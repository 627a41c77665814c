# Deepfake Shield server (signaling, SFU, client app) on Node 24.
FROM node:24-bookworm-slim
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:client
ENV HOST=0.0.0.0 PORT=8080 DATA_DIR=/data NODE_ENV=production ORT_DISABLE_TELEMETRY=1
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 8080 40000-40100/udp
USER node
CMD ["node", "server/src/main.ts"]
