"""Where one fresh-isolate phase of a build differs from another's, by layer and by function.
    python3 bench/icount/phases.py <ours dump> <base dump> [top]
The dumps are `bench/icount/startup.sh --keep`'s callgrind files: `…/cg-<worker>-<run>.out.1` is
process start → the socket accepts, `.2` the first request. E.g. ours' start-up against the trivial
JS Worker's:
    python3 bench/icount/phases.py bench/out-icount-startup/cg-now-1.out.1 bench/out-icount-startup/cg-trivial-1.out.1
Self instructions per function, ours minus base, in millions."""
import collections
import re
import sys


def load(dump):
    """Self instructions per function, read from the dump itself. (callgrind_annotate charges a dump
    taken mid-run with the calls still on the stack — main, the event loop — once per frame.)"""
    names = {}
    costs = collections.Counter()
    fn = None
    skip_next = False
    with open(dump) as f:
        for line in f:
            if skip_next:  # the inclusive cost of the call named on the line before
                skip_next = False
                continue
            if line.startswith("fn="):
                m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                fn = names.get(m.group(1), m.group(1))
            elif line.startswith("cfn="):
                m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
            elif line.startswith("calls="):
                skip_next = True
            elif fn is not None and line[:1] in "0123456789+-*":
                costs[fn] += int(line.split()[-1])
    return costs


def layer(fn):
    if re.search(r"Liftoff|Assembler::|Safepoint|RelocInfo|WasmCodeManager|NativeModule::|JumpTable", fn):
        return "V8: wasm compilation (Liftoff, assembler, code space)"
    if "wasm::" in fn and re.search(r"Decoder|Validat", fn):
        return "V8: wasm decoding and validation"
    if re.search(r"SourcePosition|jitCodeEvent|CodeEvent", fn):
        return "JIT code events (workerd's handler, source positions)"
    if "wasm::" in fn:
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
    if re.match(r"0x[0-9a-f]+$", fn):
        return "running JIT code (our wasm and JS, V8's builtins)"
    return "other (libc, BoringSSL)"


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
