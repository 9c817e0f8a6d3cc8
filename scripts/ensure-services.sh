#!/usr/bin/env bash
# Make sure the services the test suite talks to are up: start them if stopped, install them
# (Debian packages) if missing. One line per service says what was done.
set -euo pipefail

have_root() { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_ready; then
    echo "postgresql: running on 127.0.0.1:5432"
    return
  fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    have_root || { echo "postgresql: missing and no root to install it" >&2; exit 1; }
    echo "postgresql: not installed; installing the Debian package"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    trust_local_connections
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "postgresql: stopped; starting cluster $version/main"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  pg_ready || { echo "postgresql: did not come up on 127.0.0.1:5432" >&2; exit 1; }
}

trust_local_connections() {
  # Tests connect as postgres over loopback without a password, as on the CI machines.
  local hba
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
  as_root sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
}

rabbit_ready() { rabbitmq-diagnostics -q ping >/dev/null 2>&1; }

ensure_rabbitmq() {
  if command -v rabbitmq-diagnostics >/dev/null && rabbit_ready; then
    echo "rabbitmq: running on 127.0.0.1:5672"
    return
  fi
  if ! command -v rabbitmq-server >/dev/null; then
    have_root || { echo "rabbitmq: missing and no root to install it" >&2; exit 1; }
    echo "rabbitmq: not installed; installing the Debian package"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  echo "rabbitmq: stopped; starting it"
  as_root rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do rabbit_ready && break; sleep 1; done
  rabbit_ready || { echo "rabbitmq: did not come up on 127.0.0.1:5672" >&2; exit 1; }
}

mqtt_ready() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }

ensure_mosquitto() {
  if mqtt_ready; then
    echo "mosquitto: running on 127.0.0.1:1883"
    return
  fi
  if ! command -v mosquitto >/dev/null; then
    have_root || { echo "mosquitto: missing and no root to install it" >&2; exit 1; }
    echo "mosquitto: not installed; installing the Debian package"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
  fi
  echo "mosquitto: stopped; starting it"
  as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
  for _ in $(seq 1 30); do mqtt_ready && break; sleep 1; done
  mqtt_ready || { echo "mosquitto: did not come up on 127.0.0.1:1883" >&2; exit 1; }
}

ensure_sshd() {
  # Only the binaries: the SFTP tests start their own sshd on a free loopback port.
  if [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null; then
    echo "sshd: installed (the tests start their own on loopback)"
    return
  fi
  have_root || { echo "sshd: missing and no root to install it" >&2; exit 1; }
  echo "sshd: not installed; installing the Debian packages (no system daemon started)"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    openssh-server openssh-client >/dev/null
}

ensure_gpg() {
  if command -v gpg >/dev/null; then
    echo "gpg: installed"
    return
  fi
  have_root || { echo "gpg: missing and no root to install it" >&2; exit 1; }
  echo "gpg: not installed; installing the Debian package"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnupg >/dev/null
}

ensure_pdf() {
  # WeasyPrint (certificates, dossiers) draws with Pango and subsets fonts with HarfBuzz.
  local missing=()
  for lib in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0; do
    dpkg -s "$lib" >/dev/null 2>&1 || missing+=("$lib")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "pdf libraries: installed"
    return
  fi
  have_root || { echo "pdf libraries: ${missing[*]} missing and no root to install them" >&2; exit 1; }
  echo "pdf libraries: installing ${missing[*]}"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_chromium() {
  # The /docs test drives Debian's Chromium through Playwright (Playwright's own browser download
  # needs a host this network does not reach).
  if [ -x /usr/bin/chromium ]; then
    echo "chromium: installed (for the /docs browser test)"
    return
  fi
  have_root || { echo "chromium: missing and no root to install it" >&2; exit 1; }
  echo "chromium: not installed; installing the Debian package (for the /docs browser test)"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

ensure_axe() {
  # The console's accessibility test injects axe-core from its npm package, kept outside git.
  local cache=.cache/axe-core
  if [ -f "$cache/axe.min.js" ]; then
    echo "axe-core: in $cache (for the console's accessibility test)"
    return
  fi
  command -v npm >/dev/null || { echo "axe-core: npm missing; install Debian's npm" >&2; exit 1; }
  echo "axe-core: fetching axe-core@4 from the npm registry into $cache"
  mkdir -p "$cache"
  local tarball
  tarball=$(cd .cache && npm pack --silent axe-core@4 | tail -n 1)
  tar -xzf ".cache/$tarball" -C "$cache" --strip-components=1 package/axe.min.js package/LICENSE package/package.json
  rm -f ".cache/$tarball"
}

# With arguments, only those (`ensure-services.sh pdf`); without, everything the tests need.
if [ $# -gt 0 ]; then
  for name in "$@"; do "ensure_$name"; done
  exit 0
fi
ensure_postgres
ensure_rabbitmq
ensure_mosquitto
ensure_sshd
ensure_gpg
ensure_pdf
ensure_chromium
ensure_axe
