# Shared by scripts/neo4j/neo4j and scripts/cassandra/cassandra (sourced, not run): the classpath
# of a pom fetched by Maven into a cache outside the repo, a free port, and a clean stop.
cache="${IDSTITCH_CACHE:-$HOME/.cache/idstitch}"

# classpath NAME POM: the resolved classpath of POM, computed once per pom content.
classpath() {
  local cp="$cache/$1-classpath-$(sha256sum "$2" | cut -c1-12).txt"
  if [ ! -s "$cp" ]; then
    mkdir -p "$cache"
    mvn -q -B -Dmaven.repo.local="$cache/m2" -f "$2" dependency:build-classpath -Dmdep.outputFile="$cp.tmp" >&2
    mv "$cp.tmp" "$cp"
  fi
  cat "$cp"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# stop_server DIR: stops the process whose pid is in DIR/pid, waiting up to 60 s before SIGKILL.
stop_server() {
  [ -f "$1/pid" ] || return 0
  local pid; pid="$(cat "$1/pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { rm -f "$1/pid"; return 0; }; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$1/pid"
}
