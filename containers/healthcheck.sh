#!/bin/bash
# proxy-fleet-healthcheck: exit 0 iff the agent's http://127.0.0.1:$HEALTH_PORT/healthz answers 200.
# The ECS container health check and the image's HEALTHCHECK run it every 10 s: bash's /dev/tcp, no Node start.
{ exec 3<>"/dev/tcp/127.0.0.1/${HEALTH_PORT:-8081}"; } 2>/dev/null || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 4 status <&3 || exit 1
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) exit 1 ;;
esac
