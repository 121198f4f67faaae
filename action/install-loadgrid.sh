#!/usr/bin/env bash
# The GitHub Action's install step: downloads the released loadgrid for this
# runner's OS and architecture, checks its SHA-256 against the release's
# checksum file, unpacks it under RUNNER_TEMP and writes its absolute path to
# GITHUB_OUTPUT as `path=...`. Nothing is added to GITHUB_PATH or GITHUB_ENV.
#
# Environment (GitHub sets the RUNNER_* and GITHUB_* ones):
#   LOADGRID_VERSION       the release tag, e.g. v0.2.0
#   LOADGRID_RELEASES_URL  where releases are, e.g.
#                          https://github.com/loadgrid/loadgrid/releases/download
#   RUNNER_OS              Linux or macOS
#   RUNNER_ARCH            X64 or ARM64
#   RUNNER_TEMP, GITHUB_OUTPUT
set -euo pipefail

fail() {
  echo "::error title=loadgrid install::$*" >&2
  exit 1
}

version="${LOADGRID_VERSION:?LOADGRID_VERSION is not set}"
releases="${LOADGRID_RELEASES_URL:?LOADGRID_RELEASES_URL is not set}"
case "$version" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) fail "\`$version\` is not a release tag (v1.2.3): pin the action to a release (\`uses: <owner>/loadgrid@v1.2.3\`), set its \`version\` input, or set \`source: true\` to build from the action's checkout" ;;
esac

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-gnu ;;
  Linux/ARM64) target=aarch64-unknown-linux-gnu ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  *) fail "no loadgrid release for ${RUNNER_OS:-?} on ${RUNNER_ARCH:-?}: releases are for Linux and macOS on X64 and ARM64; set \`source: true\` to build from the action's checkout" ;;
esac

archive="loadgrid-$target.tar.xz"
url="$releases/$version"
dir="${RUNNER_TEMP:?RUNNER_TEMP is not set}/loadgrid-$version"
download="$(mktemp -d "$RUNNER_TEMP/loadgrid-download.XXXXXX")"
trap 'rm -rf "$download"' EXIT

fetch() {
  curl --proto '=https,http' --fail --silent --show-error --location --retry 3 --output "$2" "$1" ||
    fail "cannot download $1 (curl's message above): check that release $version exists and has $archive"
}
fetch "$url/$archive" "$download/$archive"
fetch "$url/$archive.sha256" "$download/$archive.sha256"

expected="$(cut -d ' ' -f 1 <"$download/$archive.sha256")"
if command -v sha256sum >/dev/null; then
  actual="$(sha256sum "$download/$archive" | cut -d ' ' -f 1)"
else
  actual="$(shasum -a 256 "$download/$archive" | cut -d ' ' -f 1)"
fi
if [ -z "$expected" ] || [ "$actual" != "$expected" ]; then
  fail "$archive does not match its published SHA-256 (expected ${expected:-nothing}, got $actual): it was not installed; download it again, or report a tampered release"
fi

rm -rf "$dir"
mkdir -p "$dir"
tar -xJf "$download/$archive" -C "$dir" --strip-components 1 ||
  fail "cannot unpack $archive"
[ -x "$dir/loadgrid" ] || fail "$archive holds no loadgrid executable"
"$dir/loadgrid" --version
echo "path=$dir/loadgrid" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
