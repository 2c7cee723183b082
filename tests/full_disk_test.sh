#!/bin/sh
# Fault test (native, needs root for mount): mblip-convert writing to a full disk (a 1 MB tmpfs)
# must fail with a message, leave neither OUT.gguf nor OUT.gguf.tmp behind, and never modify
# its input. Also: a converter killed mid-write leaves no OUT.gguf (only the .tmp it was
# writing). Prints "SKIPPED: ..." and exits 0 when mounting is not permitted.
#   full_disk_test.sh <mblip-convert> <golden dir>
set -u
conv=$1
golden=$2
src="$golden/models/tiny-mt5"
fail() { echo "FAIL: $*"; cleanup; exit 1; }
mnt=$(mktemp -d "${TMPDIR:-/tmp}/mblip_full_disk.XXXXXX")
mounted=0
cleanup() { [ $mounted -eq 1 ] && umount "$mnt" 2>/dev/null; rm -rf "$mnt"; }
if [ ! -d "$src" ]; then echo "SKIPPED: golden model $src absent"; rm -rf "$mnt"; exit 0; fi
if ! mount -t tmpfs -o size=1m tmpfs "$mnt" 2>/dev/null; then
  echo "SKIPPED: cannot mount a 1 MB tmpfs here (needs root / CAP_SYS_ADMIN)"
  rm -rf "$mnt"
  exit 0
fi
mounted=1
before=$(cat "$src"/* 2>/dev/null | cksum)

# 1. full disk: the converter fails, names the problem, leaves nothing behind
out="$mnt/out.gguf"
msg=$("$conv" "$src" "$out" --weights f32 -q 2>&1) && fail "conversion onto a 1 MB disk succeeded"
echo "converter said: $msg"
echo "$msg" | grep -qi "space\|write\|fail" || fail "error message does not name the write failure: $msg"
[ -e "$out" ] && fail "partial output $out left behind"
[ -e "$out.tmp" ] && fail "temporary file $out.tmp left behind"
[ "$(ls -A "$mnt")" = "" ] || fail "files left on the full disk: $(ls -A "$mnt")"

# 2. killed mid-write (output on a normal disk): no OUT.gguf appears
umount "$mnt"; mounted=0
out2="$mnt/killed.gguf"
"$conv" "$src" "$out2" -q --force >/dev/null 2>&1 &
pid=$!
sleep 0.05
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e "$out2" ]; then
  # the run may have finished before the kill: then the file must be complete and loadable size
  [ -s "$out2" ] || fail "empty $out2 after kill"
  echo "note: converter finished before it was killed"
fi
rm -f "$out2" "$out2.tmp"

after=$(cat "$src"/* 2>/dev/null | cksum)
[ "$before" = "$after" ] || fail "the input checkpoint changed"
cleanup
echo "PASS: full disk and kill leave no partial output; input unchanged"
