#!/usr/bin/env bash
# End-to-end scenarios with the real docker CLI (28.x) against a private berthd,
# across features: run/exec/logs/cp/commit, networks with DNS and published
# ports, volumes, save/load, push/pull through a loopback docker-registry,
# events, inspect/ps/images formats, exit codes. Each check asserts on output
# and exit status; the last line is `N passed, M failed`.
# Usage: tests/compat/cli/run.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

compat_init cli
berth_bins
make_images busybox:latest
start_registry
start_berthd
load_images

passed=0 failed=0
ok() { passed=$((passed + 1)); log "ok   $1"; }
bad() { failed=$((failed + 1)); log "FAIL $1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/     | /' >&2; }
# eq NAME EXPECTED ACTUAL
eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected: $2"$'\n'"got:      $3"; fi; }
# has NAME NEEDLE HAYSTACK
has() { if grep -qF -- "$2" <<<"$3"; then ok "$1"; else bad "$1" "missing: $2"$'\n'"in: $3"; fi; }
# rc NAME EXPECTED-STATUS CMD...: run CMD, compare its exit status
rc() {
  local name=$1 want=$2 got=0; shift 2
  "$@" >"$WORK/rc.out" 2>&1 || got=$?
  if [ "$got" = "$want" ]; then ok "$name"; else bad "$name" "exit $got, wanted $want: $(head -c 600 "$WORK/rc.out")"; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
retry() { local i; for i in $(seq 1 100); do "$@" && return 0; sleep 0.1; done; return 1; }

# --- run / exec / logs / cp / commit ----------------------------------------
eq "run prints output" "hello" "$(docker run --rm busybox:latest echo hello)"
eq "run -i pipes stdin" "piped" "$(echo piped | docker run -i --rm busybox:latest cat)"
rc "run propagates the exit code" 3 docker run --rm busybox:latest sh -c 'exit 3'
rc "run of a missing command exits 127" 127 docker run --rm busybox:latest /no/such/binary
rc "run with a bad flag exits 125" 125 docker run --rm --memory=1k busybox:latest true
docker run -d --name app -e GREETING=hi busybox:latest sh -c 'echo started; echo oops >&2; exec sleep 3600' >/dev/null
retry sh -c 'docker logs app 2>/dev/null | grep -q started' || true
eq "logs: stdout" "started" "$(docker logs app 2>/dev/null)"
eq "logs: stderr" "oops" "$(docker logs app 2>&1 >/dev/null)"
has "logs --timestamps" "Z started" "$(docker logs -t app 2>/dev/null)"
eq "exec sees the env" "hi" "$(docker exec app sh -c 'echo $GREETING')"
rc "exec propagates the exit code" 7 docker exec app sh -c 'exit 7'
eq "exec -w and -u" "/tmp nobody" "$(docker exec -w /tmp -u nobody app sh -c 'echo $(pwd) $(whoami)')"
echo "from host" >"$WORK/in.txt"
docker cp "$WORK/in.txt" app:/root/in.txt
eq "cp into a container" "from host" "$(docker exec app cat /root/in.txt)"
docker exec app sh -c 'mkdir -p /out && echo from container > /out/f.txt'
docker cp app:/out "$WORK/out"
eq "cp a directory out" "from container" "$(cat "$WORK/out/f.txt")"
docker commit -c 'ENV COMMITTED=yes' -m "snapshot" app snap:1 >/dev/null
eq "commit keeps files and applies changes" "from host yes" \
  "$(docker run --rm snap:1 sh -c 'echo $(cat /root/in.txt) $COMMITTED')"
eq "history shows the commit message" "snapshot" "$(docker history --format '{{.Comment}}' snap:1 | head -1)"
has "diff lists the added file" "A /root/in.txt" "$(docker diff app)"
has "top lists the process" "sleep 3600" "$(docker top app)"

# --- lifecycle, inspect and ps formats ---------------------------------------
eq "inspect -f State.Status" "running" "$(docker inspect -f '{{.State.Status}}' app)"
has "inspect -f json" '"GREETING=hi"' "$(docker inspect -f '{{json .Config.Env}}' app)"
eq "ps --format with a filter" "app running" "$(docker ps --filter name=app --format '{{.Names}} {{.State}}')"
docker pause app >/dev/null
eq "pause" "paused" "$(docker inspect -f '{{.State.Status}}' app)"
docker unpause app >/dev/null
docker rename app app2
eq "rename" "/app2" "$(docker inspect -f '{{.Name}}' app2)"
docker stop -t 1 app2 >/dev/null
eq "stop" "exited 137" "$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' app2)"
docker start app2 >/dev/null
eq "start again" "true" "$(docker inspect -f '{{.State.Running}}' app2)"
docker kill app2 >/dev/null
eq "wait after kill" "137" "$(docker wait app2)"
rc "rm of a missing container exits 1" 1 docker rm no-such-container
has "rm error wording" "No such container: no-such-container" "$(cat "$WORK/rc.out")"
docker rm app2 >/dev/null
eq "images --format" "snap 1" "$(docker images --format '{{.Repository}} {{.Tag}}' snap)"

# --- networks: DNS, aliases, published ports, isolation ---------------------
docker network create front >/dev/null
docker network create back >/dev/null
docker run -d --name web --network front --network-alias www busybox:latest \
  sh -c 'mkdir -p /w && echo served-by-web > /w/index.html && exec httpd -f -p 80 -h /w' >/dev/null
retry docker exec web wget -q -O /dev/null http://127.0.0.1/ || true
eq "DNS: container name on a user network" "served-by-web" \
  "$(docker run --rm --network front busybox:latest wget -q -O - http://web/)"
eq "DNS: network alias" "served-by-web" "$(docker run --rm --network front busybox:latest wget -q -O - http://www/)"
rc "isolation: other network cannot resolve it" 1 docker run --rm --network back busybox:latest nslookup web
docker network connect back web
eq "network connect: reachable from the second network" "served-by-web" \
  "$(docker run --rm --network back busybox:latest wget -q -O - http://web/)"
has "network inspect lists the container" "web" "$(docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' back)"
P=$(free_port)
docker run -d --name pub -p "127.0.0.1:$P:80" busybox:latest \
  sh -c 'mkdir -p /w && echo published > /w/index.html && exec httpd -f -p 80 -h /w' >/dev/null
body=""; for _ in $(seq 1 100); do body=$(curl -sf --max-time 2 "http://127.0.0.1:$P/" || true); [ -n "$body" ] && break; sleep 0.1; done
eq "published port answers on the host" "published" "$body"
eq "docker port" "127.0.0.1:$P" "$(docker port pub 80/tcp)"
docker run -d --name pubany -P --expose 8080 busybox:latest sleep 3600 >/dev/null
has "-P publishes exposed ports" "8080/tcp -> 0.0.0.0:" "$(docker port pubany)"
docker rm -f web pub pubany >/dev/null
docker network rm front back >/dev/null
rc "network rm of a predefined network is refused" 1 docker network rm bridge

docker run -d --name linked -e FOO=1 --expose 5432 busybox:latest sleep 3600 >/dev/null
env=$(docker run --rm --link linked:my-db busybox:latest env)
has "--link: the linked container's env" "MY_DB_ENV_FOO=1" "$env"
has "--link: port variables" "MY_DB_PORT_5432_TCP_PORT=5432" "$env"
eq "--link: /etc/hosts entry" "1" "$(docker run --rm --link linked:my-db busybox:latest sh -c 'grep -c my-db /etc/hosts')"
docker rm -f linked >/dev/null
has "--link-local-ip" "169.254.9.9/16" "$(docker run --rm --link-local-ip 169.254.9.9 busybox:latest ip -o -4 addr show eth0)"

# --- volumes ---------------------------------------------------------------
docker volume create data >/dev/null
docker run --rm -v data:/data busybox:latest sh -c 'echo persisted > /data/f'
eq "named volume persists across containers" "persisted" "$(docker run --rm -v data:/data:ro busybox:latest cat /data/f)"
rc "read-only volume refuses writes" 1 docker run --rm -v data:/data:ro busybox:latest sh -c 'echo x > /data/g'
mkdir -p "$WORK/bind"; echo bound >"$WORK/bind/f"
eq "bind mount" "bound" "$(docker run --rm -v "$WORK/bind:/b" busybox:latest cat /b/f)"
eq "--mount tmpfs" "tmpfs" "$(docker run --rm --mount type=tmpfs,dst=/t busybox:latest sh -c "awk '\$2==\"/t\"{print \$3}' /proc/mounts")"
docker run -d --name holder -v data:/data busybox:latest sleep 3600 >/dev/null
rc "volume in use cannot be removed" 1 docker volume rm data
docker rm -f holder >/dev/null
docker volume rm data >/dev/null
eq "volume removed" "" "$(docker volume ls -q --filter name=data)"
before=$(docker volume ls -q | wc -l)
docker run --rm -v /anon busybox:latest true
eq "--rm removes anonymous volumes" "$before" "$(docker volume ls -q | wc -l)"

# --- save / load -------------------------------------------------------------
id=$(docker inspect -f '{{.Id}}' snap:1)
docker save -o "$WORK/snap.tar" snap:1
docker rmi snap:1 >/dev/null
rc "image gone after rmi" 1 docker image inspect snap:1
has "load reports the tag" "Loaded image: snap:1" "$(docker load -i "$WORK/snap.tar")"
eq "load restores the same id" "$id" "$(docker inspect -f '{{.Id}}' snap:1)"

# --- push / pull through a loopback registry -------------------------------
R=127.0.0.1:$REG_PORT
docker tag snap:1 "$R/compat/snap:1"
push=$(docker push "$R/compat/snap:1" 2>&1)
has "push reports the digest" "1: digest: sha256:" "$push"
digest=$(sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p' <<<"$push")
docker rmi "$R/compat/snap:1" snap:1 >/dev/null
pull=$(docker pull "$R/compat/snap:1" 2>&1)
has "pull downloads" "Status: Downloaded newer image for $R/compat/snap:1" "$pull"
eq "pulled image has the pushed content" "from host yes" \
  "$(docker run --rm "$R/compat/snap:1" sh -c 'echo $(cat /root/in.txt) $COMMITTED')"
has "RepoDigests records the registry digest" "$R/compat/snap@$digest" \
  "$(docker inspect -f '{{json .RepoDigests}}' "$R/compat/snap:1")"
rc "pull of a missing repository fails" 1 docker pull "$R/compat/nothing:1"

# --- events -----------------------------------------------------------------
since=$(date +%s)
docker run --name ev busybox:latest true
docker rm ev >/dev/null
until=$(( $(date +%s) + 1 ))
ev=$(docker events --since "$since" --until "$until" --filter container=ev --format '{{.Type}} {{.Action}}' | tr '\n' ',')
eq "events: container lifecycle in order" "container create,container attach,container start,container die,container destroy," "$ev"
ev=$(docker events --since "$since" --until "$until" --filter container=ev --filter event=die --format '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}')
eq "events: filters and attributes" "ev 0" "$ev"

# --- system -----------------------------------------------------------------
eq "info --format" "running=0" "running=$(docker info --format '{{.ContainersRunning}}')"
has "system df" "Images" "$(docker system df)"
has "version shows the server" "Server:" "$(docker version)"

echo "cli: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
