"""Writes tests/vectors/frame/frames.json: golden encodings of the call frame (src/call_frame.rs),
computed here from the written spec, independently of the Rust reader/writer and the JS ones
(src/worker/frame.mjs). A field is {"text": ...}, {"hex": ...} (bytes) or null (absent); each case
has its fields and the frame's exact bytes (hex). The malformed cases have bytes and the fields a
reader expects ("text", "bytes", "required"), which it must refuse."""
import json
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parents[2] / "vectors" / "frame"
SOURCE = "edge-auth call frame (the spec in src/call_frame.rs's module docs)"
ABSENT = 0xFFFFFFFF


def encode(fields):
    out = b""
    for f in fields:
        if f is None:
            out += struct.pack("<I", ABSENT)
            continue
        data = f["text"].encode("utf-8") if "text" in f else bytes.fromhex(f["hex"])
        out += struct.pack("<I", len(data)) + data
    return out.hex()


cases = []


def case(name, fields):
    cases.append({"name": name, "fields": fields, "encoded": encode(fields)})


case("no fields", [])
case("one empty text", [{"text": ""}])
case("absent, then text", [None, {"text": "GET"}])
case("text beyond ASCII (two-, three- and four-byte UTF-8)", [{"text": "é € 𝄞"}])
case("bytes of every kind, NUL and newline included", [{"hex": "00ff0a0d7f80c3"}])
case("a request's fields: names, values, an absent Content-Length, a body",
     [{"text": "content-type\nwebhook-id"}, {"text": "application/json\nmsg_1"}, None, {"hex": "7b7d"}])
case("a text longer than 255 bytes (the length's second byte)", [{"text": "a" * 300}])
case("a storage key that ends in NUL (a sweep's next page)", [{"text": "page"}, {"text": "0a1b\u0000"}])

malformed = [
    {"name": "no field where one is expected", "encoded": "", "reads": ["text"]},
    {"name": "a length cut short", "encoded": "010000", "reads": ["bytes"]},
    {"name": "a length past the end", "encoded": "03000000" + "6162", "reads": ["bytes"]},
    {"name": "text that is not UTF-8", "encoded": "01000000ff", "reads": ["text"]},
    {"name": "a required field absent", "encoded": "ffffffff", "reads": ["required"]},
    {"name": "bytes left after the last field", "encoded": "00000000" + "07", "reads": ["text"]},
    {"name": "0xFFFFFFFE is a length, not absent", "encoded": "feffffff", "reads": ["bytes"]},
]

OUT.mkdir(parents=True, exist_ok=True)
(OUT / "frames.json").write_text(json.dumps({
    "source": SOURCE,
    "generated_by": "tests/gen/frame/generate.py",
    "cases": cases,
    "malformed": malformed,
}, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {OUT / 'frames.json'}: {len(cases)} cases, {len(malformed)} malformed")
