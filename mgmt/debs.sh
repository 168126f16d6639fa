# Debian packages of one architecture, downloaded once into the cache and unpacked by the caller,
# never installed on this machine. Sourced by mgmt/build.sh and mgmt/test-disk.sh:
#
#   debs_use ARCH          amd64 (this machine's index) or arm64 (an index of its own in the
#                          cache, read without touching the system's apt configuration, refreshed
#                          daily)
#   deb_version PACKAGE    the candidate version
#   deb_fetch PACKAGE VERSION   the .deb's path
#
# Needs CACHE set (the caller's cache directory).

debs_use() {
  DEBS_ARCH=$1
  DEBS_APT=()
  if [ "$DEBS_ARCH" = arm64 ]; then
    local index="$CACHE/apt-arm64"
    mkdir -p "$index/lists/partial" "$index/cache/archives/partial"
    DEBS_APT=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 "-oDir::State::Lists=$index/lists" "-oDir::Cache=$index/cache")
    if [ -z "$(find "$index/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
      echo "reading Debian's arm64 package index" >&2
      # apt warns that it downloads as root into a directory of root's: expected here.
      apt-get "${DEBS_APT[@]}" update -qq 2>&1 | grep -v 'unsandboxed' >&2 || true
      [ -n "$(find "$index/lists" -name '*Packages*' | head -1)" ] \
        || { echo "reading Debian's arm64 package index failed" >&2; return 1; }
    fi
  fi
}

deb_version() {
  apt-cache "${DEBS_APT[@]}" policy "$1" | awk '/Candidate:/ {print $2}'
}

deb_fetch() {
  local deb
  mkdir -p "$CACHE/debs"
  chmod 0755 "$CACHE/debs"
  deb=$(ls "$CACHE/debs/${1}_${2//:/%3a}_$DEBS_ARCH.deb" 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    (cd "$CACHE/debs" && apt-get "${DEBS_APT[@]}" download "$1:$DEBS_ARCH=$2" >/dev/null 2>&1)
    deb=$(ls "$CACHE/debs/${1}_${2//:/%3a}_$DEBS_ARCH.deb" | head -1)
  fi
  echo "$deb"
}
