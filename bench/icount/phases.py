"""Where one fresh-isolate phase of a build differs from another's, by layer and by function.
    python3 bench/icount/phases.py <ours dump> <base dump> [top]
The dumps are `bench/icount/startup.sh --keep`'s callgrind files: `…/cg-<worker>-<run>.out.1` is
process start → the socket accepts, `.2` the first request. E.g. ours' start-up against the trivial
JS Worker's:
    python3 bench/icount/phases.py bench/out-icount-startup/cg-now-1.out.1 bench/out-icount-startup/cg-trivial-1.out.1
Self instructions per function (callgrind_annotate), ours minus base, in millions."""
import collections
import re
import subprocess
import sys


def load(dump):
    text = subprocess.run(["callgrind_annotate", "--threshold=100", dump], capture_output=True, text=True,
                          check=True).stdout
    costs = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if m and "PROGRAM TOTALS" not in line:
            name = re.sub(r"\s*\[/.*\]$", "", m.group(2)).replace("???:", "").strip()
            costs[name] += int(m.group(1).replace(",", ""))
    return costs


def layer(fn):
    if "wasm::" in fn:
        if "Liftoff" in fn or "liftoff" in fn:
            return "V8: wasm compilation (Liftoff)"
        if "Decoder" in fn or "Validat" in fn:
            return "V8: wasm decoding and validation"
        return "V8: wasm, other"
    if "memset" in fn:
        return "memset"
    if "memcpy" in fn or "memmove" in fn:
        return "memcpy"
    if "v8::" in fn or fn.startswith("Builtins_"):
        return "V8, other (JS parse and compile, heap, objects)"
    if "tcmalloc" in fn or "malloc" in fn or fn.startswith("operator new") or fn.startswith("operator delete"):
        return "malloc"
    if "kj::" in fn or "workerd::" in fn or "capnp::" in fn:
        return "workerd, kj, capnp"
    return "other (libc, BoringSSL, JIT code)"


def main():
    ours, base = load(sys.argv[1]), load(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    diff = {k: ours[k] - base[k] for k in set(ours) | set(base)}
    print(f"ours {sum(ours.values()) / 1e6:.1f} M, base {sum(base.values()) / 1e6:.1f} M, "
          f"difference {sum(diff.values()) / 1e6:+.1f} M")
    by = collections.Counter()
    for fn, v in diff.items():
        by[layer(fn)] += v
    for name, v in by.most_common():
        print(f"  {v / 1e6:+8.2f} M  {name}")
    print("functions:")
    for fn, v in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top]:
        print(f"  {v / 1e6:+8.2f} M  {fn[:130]}")


if __name__ == "__main__":
    main()
