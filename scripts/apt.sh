# Installing Debian packages, for scripts/setup.sh and scripts/vm/setup.sh
# (sourced). Set APT_WHO to the name that prefixes what they say on stderr.

# apt-get update, once per run.
apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then
    echo "$APT_WHO: apt-get update" >&2
    apt-get update -qq >&2
    apt_updated=1
  fi
}

# Installs those of the packages named that dpkg does not have installed.
apt_install_missing() {
  local p missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "$APT_WHO: installing ${missing[*]}" >&2
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
