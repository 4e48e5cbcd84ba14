#!/usr/bin/env bash
# Builds target/container/rootfs.tar: the origin's release binary, exactly the shared libraries it
# links (from this machine's Debian), CA certificates if present, and an unprivileged user — the
# whole filesystem of a `FROM scratch` image (deploy/container/Containerfile). No registry, no
# base image: what the image contains is what `ldd` says the binary needs.
source "$(dirname "$0")/../../scripts/lib.sh"
BIN="$ROOT/target/release/edge-auth-origin"
OUT="$ROOT/target/container"
[ -x "$BIN" ] || { step "build: origin (release)"; cargo build --release --quiet -p edge-auth-origin; }
step "container: assembling $OUT/rootfs from $(basename "$BIN") and the libraries it links"
rm -rf "$OUT/rootfs" && mkdir -p "$OUT/rootfs"/{usr/local/bin,etc,data,tmp}
install -m 0755 "$BIN" "$OUT/rootfs/usr/local/bin/edge-auth-origin"
# Every resolved library path, plus the dynamic loader, copied to the same path inside.
for lib in $(ldd "$BIN" | awk '/=> \//{print $3} $1 ~ /^\/.*ld-linux/{print $1}'); do
  mkdir -p "$OUT/rootfs$(dirname "$lib")"
  cp -L "$lib" "$OUT/rootfs$lib"
  note "$lib"
done
[ -f /etc/ssl/certs/ca-certificates.crt ] && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$OUT/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0::/:/nonexistent\nnobody:x:65534:65534::/data:/nonexistent\n' > "$OUT/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$OUT/rootfs/etc/group"
chmod 1777 "$OUT/rootfs/tmp"
chown 65534:65534 "$OUT/rootfs/data" 2>/dev/null || true
tar -C "$OUT/rootfs" --numeric-owner -cf "$OUT/rootfs.tar" .
cp "$ROOT/deploy/container/Containerfile" "$OUT/Containerfile"
note "wrote $OUT/rootfs.tar ($(du -h "$OUT/rootfs.tar" | cut -f1)); build with: docker build -f $OUT/Containerfile $OUT"
