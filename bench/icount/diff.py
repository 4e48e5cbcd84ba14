"""Per-function instruction diff of two `bench/icount/run.sh --profile` measurements.
    python3 bench/icount/diff.py <base label> <ours label> <requests>
Labels are `<side>-<request>-<worker>` (e.g. base-stripe-edgev, ours-stripe-edgev). Self instructions
per request from callgrind, with JIT code (our JS, the wasm functions) named from V8's perf map."""
import os
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "out-icount")
import re, sys, bisect, collections
def load(label):
    ranges = []
    for line in open(f"{OUT}/perf-{label}.map"):
        a, sz, name = line.rstrip("\n").split(" ", 2)
        ranges.append((int(a, 16), int(sz, 16), name))
    ranges.sort()
    starts = [r[0] for r in ranges]
    costs = collections.Counter()
    for line in open(f"{OUT}/ann-{label}.txt"):
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if not m: continue
        c = int(m.group(1).replace(",", "")); fn = m.group(2)
        if "below main" in fn or "libc-start" in fn or "0x000000000001ab70" in fn or "start_thread" in fn or "clone.S" in fn or "Thread::" in fn or "ThreadEntry" in fn or "MainBuilder" in fn or "runMainAndExit" in fn or fn.startswith("???:main "): continue
        a = re.match(r"\?\?\?:0x([0-9a-f]+) \[\?\?\?\]", fn)
        if a:
            addr = int(a.group(1), 16)
            i = bisect.bisect_right(starts, addr) - 1
            if i >= 0 and ranges[i][0] <= addr < ranges[i][0] + ranges[i][1]:
                name = ranges[i][2]
                name = re.sub(r"^(JS|Function|LazyCompile):[~*^+]?", "JS:", name)
                fn = name
            else:
                fn = "unmapped"
        else:
            fn = re.sub(r"\[.*\]$", "", fn).replace("???:", "")[:110]
        costs[fn] += c
    return costs
a, b = load(sys.argv[1]), load(sys.argv[2])
n = int(sys.argv[3])
keys = set(a) | set(b)
print(f"total self: {sys.argv[1]} {sum(a.values())//n}  {sys.argv[2]} {sum(b.values())//n} per req")
rows = sorted(keys, key=lambda k: -abs(b[k] - a[k]))
for k in rows[:45]:
    print(f"{(b[k]-a[k])//n:>8} {a[k]//n:>8} {b[k]//n:>8}  {k}")
