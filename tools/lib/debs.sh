# Debian packages the tools need, installed when missing. Sourced by the scripts in
# tools/; defines two functions and runs nothing.
#
#   missing_debs PKG...          prints (one a line) the packages not installed
#   ensure_debs WHO WHY PKG...   installs the missing ones with apt when run as root,
#                                saying "WHO: installing ... (WHY)"; returns 1, after
#                                saying what is missing, when it cannot install them

missing_debs() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || echo "$pkg"
  done
}

ensure_debs() {
  local who=$1 why=$2
  shift 2
  local missing
  mapfile -t missing < <(missing_debs "$@")
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "$who: installing ${missing[*]} ($why)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "$who: missing ${missing[*]} ($why); install them as root: apt-get install ${missing[*]}" >&2
    return 1
  fi
}
