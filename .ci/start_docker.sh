# Sourced by .ci/run: make a Docker engine answer, so the Docker sandbox tests run against a
# real daemon. Installs Debian's docker.io where dockerd is missing and starts dockerd in the
# background where none answers. When one answers it exports EVOFORGE_REQUIRE_DOCKER=1 (the
# Docker tests then fail instead of skipping); when none can be started it says so loudly.
_evoforge_docker_answers() { docker info >/dev/null 2>&1; }
_evoforge_sudo=""; [ "$(id -u)" -eq 0 ] || _evoforge_sudo="sudo"
if ! command -v dockerd >/dev/null 2>&1; then
    $_evoforge_sudo apt-get update -q || true
    DEBIAN_FRONTEND=noninteractive $_evoforge_sudo apt-get install -y -q docker.io || true
fi
if ! _evoforge_docker_answers && command -v dockerd >/dev/null 2>&1; then
    # Jobs run without a network: no bridge is needed, and without one dockerd starts in more
    # places (no iptables). The defaults are tried first.
    for _evoforge_flags in "" "--bridge=none --iptables=false"; do
        _evoforge_pid=$($_evoforge_sudo sh -c "nohup dockerd $_evoforge_flags >/tmp/evoforge-dockerd.log 2>&1 & echo \$!")
        for _ in $(seq 60); do
            _evoforge_docker_answers || [ ! -d "/proc/$_evoforge_pid" ] && break; sleep 0.5
        done
        _evoforge_docker_answers && break
        $_evoforge_sudo kill "$_evoforge_pid" 2>/dev/null || true  # the dockerd this script started
        sleep 1
    done
fi
if _evoforge_docker_answers; then
    export EVOFORGE_REQUIRE_DOCKER=1
    echo "Docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers: the Docker sandbox tests run"
else
    echo "################################################################################"
    echo "##  NO DOCKER DAEMON COULD BE STARTED: the Docker sandbox tests will be SKIPPED  ##"
    echo "##  (see /tmp/evoforge-dockerd.log)                                             ##"
    echo "################################################################################"
fi
