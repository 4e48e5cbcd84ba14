"""Per-function instruction counts of `bench/icount/run.sh --profile` measurements.
    python3 bench/icount/diff.py <base label> <ours label> <requests>   # what changed, per function
    python3 bench/icount/diff.py --one <label> <requests>                # one build: by layer, then wasm
Labels are `<side>-<request>-<worker>` (e.g. base-stripe-edgev, ours-stripe-edgev). Self instructions
per request from callgrind, with JIT code (our JS, the wasm functions) named from V8's perf map.

Wasm code tiered up to TurboFan is reached through the module's jump table (one 8-byte slot per
function, a `jmp` to the code), and callgrind names JIT code without symbols by the address a call
entered it at: the slot. So a tiered function's instructions sit under its slot's address, which the
perf map does not list. They are named here by the slot's function index: the perf map's own wasm
entries end in `-<function index>-turbofan|liftoff`, and the slot layout (index = first + offset / 8)
is the one that puts the most instructions on functions the map says were tiered up. Run with a
build that keeps names (CARGO_PROFILE_RELEASE_STRIP=false) to read them."""
import bisect
import collections
import os
import re
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "out-icount")
SKIP = ("below main", "libc-start", "0x000000000001ab70", "start_thread", "clone.S", "Thread::", "ThreadEntry",
        "MainBuilder", "runMainAndExit")
SLOT = 8  # V8's x64 jump-table slot size


def jump_table(unmapped, wasm_names, tiered):
    """{address: name} for the unmapped addresses that are jump-table slots."""
    if not unmapped or not tiered:
        return {}
    # The table is one run of slots: search from the lowest address of the cluster (addresses less than
    # a table's length apart) that holds the most instructions, not from the lowest unmapped address,
    # which can be other code far away.
    span = SLOT * (max(tiered) + 1)
    clusters, prev = [], None
    for addr in sorted(unmapped):
        if prev is None or addr - prev > span:
            clusters.append([addr, 0])
        clusters[-1][1] += unmapped[addr]
        prev = addr
    low = max(clusters, key=lambda c: c[1])[0]
    best = (0, None)
    for first in range(0, max(tiered) + 1):
        for start in range(low - SLOT * 8, low + SLOT, SLOT):
            hit = sum(c for addr, c in unmapped.items()
                      if addr >= start and (addr - start) % SLOT == 0 and first + (addr - start) // SLOT in tiered)
            if hit > best[0]:
                best = (hit, (first, start))
    if best[1] is None:
        return {}
    first, start = best[1]
    out = {}
    for addr in unmapped:
        if addr >= start and (addr - start) % SLOT == 0:
            idx = first + (addr - start) // SLOT
            out[addr] = f"wasm:{wasm_names.get(idx, f'function {idx}')} (TurboFan)"
    return out


def load(label):
    ranges = []
    for line in open(f"{OUT}/perf-{label}.map"):
        a, sz, name = line.rstrip("\n").split(" ", 2)
        ranges.append((int(a, 16), int(sz, 16), name))
    ranges.sort()
    starts = [r[0] for r in ranges]
    wasm_names, tiered = {}, set()
    for _, _, name in ranges:
        m = re.match(r"^(?:JS:)?(.*)-(\d+)-(turbofan|liftoff)$", name)
        if m:
            wasm_names[int(m.group(2))] = re.sub(r"::h[0-9a-f]{16}$", "", m.group(1))
            if m.group(3) == "turbofan":
                tiered.add(int(m.group(2)))
    costs = collections.Counter()
    unmapped = collections.Counter()
    for line in open(f"{OUT}/ann-{label}.txt"):
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        c = int(m.group(1).replace(",", ""))
        fn = m.group(2)
        if any(s in fn for s in SKIP) or fn.startswith("???:main "):
            continue
        a = re.match(r"\?\?\?:0x([0-9a-f]+) \[\?\?\?\]", fn)
        if a:
            addr = int(a.group(1), 16)
            i = bisect.bisect_right(starts, addr) - 1
            if i >= 0 and ranges[i][0] <= addr < ranges[i][0] + ranges[i][1]:
                name = re.sub(r"^(JS|Function|LazyCompile):[~*^+]?", "JS:", ranges[i][2])
                m = re.match(r"^JS:(.*)-(\d+)-(turbofan|liftoff)$", name)
                fn = f"wasm:{wasm_names[int(m.group(2))]} ({'TurboFan' if m.group(3) == 'turbofan' else 'Liftoff'})" if m else name
            else:
                unmapped[addr] += c
                continue
        else:
            fn = re.sub(r"\[.*\]$", "", fn).replace("???:", "")[:110]
        costs[fn] += c
    slots = jump_table(unmapped, wasm_names, tiered)
    for addr, c in unmapped.items():
        costs[slots.get(addr, "unmapped JIT code")] += c
    return costs


def layer(fn):
    if fn.startswith("wasm:"):
        return "wasm (ours)"
    if fn.startswith("JS:"):
        return "JS (ours and the runtime's)"
    if fn.startswith("Builtins_"):
        return "V8 builtins"
    if "tcmalloc" in fn or fn.startswith("operator new") or fn.startswith("operator delete") or "malloc" in fn:
        return "malloc"
    if "v8::" in fn:
        return "V8 (C++)"
    if "kj::" in fn or "workerd::" in fn or "capnp::" in fn:
        return "workerd and kj"
    return "other (libc, BoringSSL, unmapped JIT code)"


def one(label, n):
    c = load(label)
    total = sum(c.values())
    print(f"{label}: {total / n / 1000:.1f} k instructions per request (self, whole process)")
    by = collections.Counter()
    for fn, v in c.items():
        by[layer(fn)] += v
    for k, v in by.most_common():
        print(f"  {v / n / 1000:8.1f} k  {100 * v / total:5.1f} %  {k}")
    print("wasm functions:")
    for fn, v in sorted(((f, v) for f, v in c.items() if f.startswith("wasm:")), key=lambda x: -x[1])[:40]:
        print(f"  {v / n / 1000:8.2f} k  {fn[5:][:120]}")


def diff(base, ours, n):
    a, b = load(base), load(ours)
    keys = set(a) | set(b)
    print(f"total self: {base} {sum(a.values()) // n}  {ours} {sum(b.values()) // n} per req")
    for k in sorted(keys, key=lambda k: -abs(b[k] - a[k]))[:45]:
        print(f"{(b[k] - a[k]) // n:>8} {a[k] // n:>8} {b[k] // n:>8}  {k}")


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        one(sys.argv[2], int(sys.argv[3]))
    else:
        diff(sys.argv[1], sys.argv[2], int(sys.argv[3]))
