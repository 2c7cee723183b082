#!/usr/bin/env bash
# Idempotent setup: Debian packages, npm dependencies, and pinned third-party source tarballs
# (checksums verified, unpacked under $MBLIP_DEPS_DIR, never inside the repository).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deps=${MBLIP_DEPS_DIR:-$HOME/.cache/mblip}
mirror=${MBLIP_DEBIAN_MIRROR:-http://deb.debian.org/debian}

packages=(cmake g++ ninja-build make pkg-config curl xz-utils ca-certificates emscripten
  libsentencepiece-dev sentencepiece libstb-dev catch2 nlohmann-json3-dev libjpeg62-turbo-dev
  clang libclang-rt-14-dev chromium g++-aarch64-linux-gnu qemu-user
  clang-19 lld-19 llvm-19   # clang-19/wasm-ld-19: the relaxed-SIMD wasm builds (emcc drives them)
  ccache)                   # compile cache under $MBLIP_DEPS_DIR/ccache (cmake/Ccache.cmake)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi

# name|pool path|sha256 -- source tarballs from Debian's archive (pool paths are stable).
sources=(
  "sentencepiece-0.1.97|s/sentencepiece/sentencepiece_0.1.97.orig.tar.gz|56430381f45dc6debfd2e0cbde4f039f9499c49ca825af184b0cbf318c17a18f"
  "xnnpack-4ea82e5|x/xnnpack/xnnpack_0.0~git20241108.4ea82e5.orig.tar.xz|90bde2caef0f880f627bab0dc805a86c4b8070cd98e3243db3046ab3f3be1a99"
  "pthreadpool-560c60d|p/pthreadpool/pthreadpool_0.0~git20240616.560c60d.orig.tar.xz|4cc3cbd933b28131d2a34edc54f76af9fb41bc490af5eae1a5bd3cd07ea90708"
  "cpuinfo-877328f|c/cpuinfo/cpuinfo_0.0~git20250905.877328f.orig.tar.xz|557ca404a3836b9f335a3a06b65ff9fe9dbaaefab7fb5c0185f53d9f33615a10"
  "fxdiv-b408327|f/fxdiv/fxdiv_0.0~git20200417.b408327.orig.tar.xz|7953482badaf4cb34026c3487c257b8e4ab2df061c019bd6fabbbc12ad52c44b"
  "libjpeg-turbo-2.1.5|libj/libjpeg-turbo/libjpeg-turbo_2.1.5.orig.tar.gz|254f3642b04e309fee775123133c6464181addc150499561020312ec61c1bf7c"
)
mkdir -p "$deps/tarballs" "$deps/src"
for entry in "${sources[@]}"; do
  IFS='|' read -r name path sum <<<"$entry"
  dest="$deps/src/$name"
  [ -f "$dest/.mblip-unpacked" ] && continue
  file="$deps/tarballs/$(basename "$path")"
  if [ ! -f "$file" ] || ! echo "$sum  $file" | sha256sum -c --status; then
    echo "setup: fetching $(basename "$path")"
    curl -fsSL --retry 3 -o "$file.part" "$mirror/pool/main/$path"
    mv "$file.part" "$file"
  fi
  if ! echo "$sum  $file" | sha256sum -c --status; then
    echo "setup: checksum mismatch for $file (expected $sum)" >&2; rm -f "$file"; exit 1
  fi
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  # Strip the top-level folder only when the tarball has exactly one (XNNPACK's has none).
  strip=0
  [ "$(tar -tf "$file" | cut -d/ -f1 | sort -u | wc -l)" -eq 1 ] && strip=1
  tar -xf "$file" -C "$dest.tmp" --strip-components=$strip
  rm -rf "$dest" && mv "$dest.tmp" "$dest" && touch "$dest/.mblip-unpacked"
done

# web/ devDependencies: playwright-core (browser tests), binaryen 132 (wasm-opt for the relaxed-SIMD link).
if [ -f "$here/web/package-lock.json" ] && { [ ! -d "$here/web/node_modules/playwright-core" ] ||
     [ ! -x "$here/web/node_modules/.bin/wasm-opt" ]; }; then
  (cd "$here/web" && npm ci --no-audit --no-fund)
fi
echo "setup: ok (deps in $deps)"
