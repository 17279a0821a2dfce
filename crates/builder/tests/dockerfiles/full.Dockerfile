# syntax=docker/dockerfile:1
ARG BASE=busybox:1.36
FROM ${BASE} AS build
ENV A=1 B="two words" \
    C=3
RUN --mount=type=cache,target=/var/cache/apt \
    --network=none \
    echo one && \
    echo two
RUN <<EOF
echo hi
echo there
EOF
RUN <<-EOT bash
	set -e
	echo tabbed
	EOT
COPY --chown=app:app --chmod=0644 src/ /app/
COPY <<EOF /etc/config.ini
[section]
key=$A
EOF
ADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 https://example.invalid/x.tar /tmp/
from scratch as final
COPY --from=build --link /app /app
CMD ["run", "--fast"]
ENTRYPOINT /bin/app --flag
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m30s --retries=5 CMD wget -q -O- localhost || exit 1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ONBUILD RUN echo from a child
LABEL "org.example.name"="a b" version=1.0 description='quoted "inner"'
EXPOSE 80 443/udp $PORT
VOLUME ["/data", "/logs"]
USER app:app
WORKDIR /srv
STOPSIGNAL SIGTERM
MAINTAINER someone <someone@example.invalid>
ARG X Y=2
