# Shared by the shell tests: source it after setting `tmp` to a scratch dir.
#
#   check NAME COMMAND...   runs COMMAND; prints PASS/FAIL NAME and counts
#   summary                 prints "N passed, N failed"; false on failures
#   free_port               prints a free loopback TCP port
#   use_test_podman_conf    points podman at the settings these machines need
#
# The scripts run under `set -o pipefail`, so never pipe a command into
# `grep -q`: grep quits at the first match, the writer gets SIGPIPE, and the
# pipeline fails at random. Capture the output first, then grep it.

passed=0
failed=0

check() {
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: $(head -c 600 "$tmp/out")"
    failed=$((failed + 1))
  fi
}

summary() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# podman on these machines needs two settings that are not its defaults: crun
# fails on their cgroup layout (runc works), and the default nofile limit is
# too low for podman itself. Set for the calling script only, through
# CONTAINERS_CONF, not in /etc.
use_test_podman_conf() {
  cat > "$tmp/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF="$tmp/containers.conf"
}
