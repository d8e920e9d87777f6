#!/usr/bin/env python3
"""Writes the seed corpora of the `npy_read` and `safetensors_read` fuzz
targets (fuzz/corpus/npy_read/, fuzz/corpus/safetensors_read/).

Hand-built .npy files (no NumPy needed): every supported dtype in both byte
orders, 0-d, empty and zero-sized arrays, Fortran order, versions 1.0/2.0/3.0,
and the hostile ones: truncated data or header, lying header lengths, shapes
far larger than the file (overflowing u64 and usize), negative or non-integer
shape entries, unsupported dtypes, structured dtypes, deep nesting, bad UTF-8.

Run from the repository root: python3 fuzz/make_corpus.py
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "npy_read")


def npy(descr, shape, data=b"", fortran=False, version=1, header=None, pad=True):
    if header is None:
        if isinstance(shape, str):
            shape_text = shape
        elif len(shape) == 1:
            shape_text = "(%d,)" % shape[0]
        else:
            shape_text = "(" + ", ".join(str(d) for d in shape) + ")"
        header = "{'descr': %r, 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_text)
    h = header.encode("utf-8") if isinstance(header, str) else header
    prefix = 10 if version == 1 else 12
    if pad:
        total = (prefix + len(h) + 1 + 63) // 64 * 64
        h = h + b" " * (total - prefix - len(h) - 1) + b"\n"
    length = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + length + h + data


def pack(fmt, values):
    return b"".join(struct.pack(fmt, v) for v in values)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    vals = [1.5, -0.0, float("nan"), float("inf"), -2.25, 3.0]
    ints = [0, -1, 2, 2**31 - 1, -(2**31), 7]
    for e, endian in (("<", "le"), (">", "be")):
        seeds["f4_2x3_%s" % endian] = npy(e + "f4", (2, 3), pack(e + "f", vals))
        seeds["f8_2x3_%s" % endian] = npy(e + "f8", (2, 3), pack(e + "d", vals))
        seeds["i4_6_%s" % endian] = npy(e + "i4", (6,), pack(e + "i", ints))
        seeds["i8_3x2_%s" % endian] = npy(e + "i8", (3, 2), pack(e + "q", ints))
        seeds["f8_fortran_2x3_%s" % endian] = npy(e + "f8", (2, 3), pack(e + "d", vals), fortran=True)
    seeds["f4_0d"] = npy("<f4", "()", pack("<f", [2.5]))
    seeds["f8_0d"] = npy("<f8", "()", pack("<d", [2.5]))
    seeds["f4_empty_0"] = npy("<f4", (0,))
    seeds["f8_empty_3x0x2"] = npy("<f8", (3, 0, 2))
    seeds["f8_empty_fortran_0x4"] = npy("<f8", (0, 4), fortran=True)
    seeds["f8_4d"] = npy("<f8", (1, 2, 1, 3), pack("<d", vals))
    seeds["f4_v2"] = npy("<f4", (2,), pack("<f", [1.0, 2.0]), version=2)
    seeds["f4_v3"] = npy("<f4", (2,), pack("<f", [1.0, 2.0]), version=3)
    seeds["f4_list_shape"] = npy("<f4", "[2]", pack("<f", [1.0, 2.0]))
    seeds["f4_native_order"] = npy("=f4", (1,), pack("<f", [1.0]))
    seeds["f4_nopad"] = npy("<f4", (1,), pack("<f", [1.0]), pad=False)
    seeds["f4_long_ints"] = npy("<f4", "(2L,)", pack("<f", [1.0, 2.0]))
    # Truncated data and header; extra bytes.
    full = npy("<f8", (2, 3), pack("<d", vals))
    seeds["trunc_data"] = full[:-5]
    seeds["trunc_header"] = full[:40]
    seeds["trunc_prefix"] = full[:9]
    seeds["extra_bytes"] = full + b"\0\0\0\0"
    # Lying header lengths.
    lie = bytearray(full)
    lie[8:10] = struct.pack("<H", 65535)
    seeds["header_len_65535"] = bytes(lie)
    lie = bytearray(full)
    lie[8:10] = struct.pack("<H", 3)
    seeds["header_len_3"] = bytes(lie)
    v2 = bytearray(npy("<f4", (2,), pack("<f", [1.0, 2.0]), version=2))
    v2[8:12] = struct.pack("<I", 0xFFFFFFFF)
    seeds["v2_header_len_max"] = bytes(v2)
    # Huge declared shapes.
    seeds["huge_1e12_sq"] = npy("<f4", (10**12, 10**12), pack("<f", [1.0]))
    seeds["huge_overflow_u64"] = npy("<f4", (2**32, 2**32, 2**32), pack("<f", [1.0]))
    seeds["huge_2p62"] = npy("<f8", (2**62,), pack("<d", [1.0]))
    seeds["huge_2p63"] = npy("<f8", (2**63,), pack("<d", [1.0]))
    seeds["huge_2p64"] = npy("<f8", (2**64,), pack("<d", [1.0]))
    seeds["huge_i128"] = npy("<f8", (10**40,), pack("<d", [1.0]))
    seeds["zero_with_huge_axes"] = npy("<f8", (0, 2**62, 2**62))
    seeds["zero_with_huge_axis"] = npy("<f8", (0, 2**61))
    seeds["zero_with_isize_axis"] = npy("<f4", (2**63 - 1, 0))
    seeds["many_axes"] = npy("<f4", tuple([1] * 40), pack("<f", [1.0]))
    seeds["many_zero_axes"] = npy("<f4", tuple([0] * 40))
    # Bad shape entries.
    seeds["neg_shape"] = npy("<f4", "(-1,)", pack("<f", [1.0]))
    seeds["float_shape"] = npy("<f4", "(1.5,)", pack("<f", [1.0]))
    seeds["none_shape"] = npy("<f4", "None", pack("<f", [1.0]))
    seeds["str_shape"] = npy("<f4", "('a',)", pack("<f", [1.0]))
    # Dtypes.
    for d in ("<u2", "<f2", "<c16", "|b1", "|u1", "<M8[ns]", "|O", "<U3", "f4", "<f16", ""):
        seeds["dtype_%s" % "".join(c if c.isalnum() else "_" for c in d)] = npy(d, (1,), b"\0" * 8)
    seeds["structured"] = npy(None, None, b"\0" * 8, header="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }")
    # Header text.
    seeds["no_descr"] = npy(None, None, b"\0" * 4, header="{'fortran_order': False, 'shape': (1,), }")
    seeds["dup_keys"] = npy(None, None, b"\0" * 4, header="{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,), }")
    seeds["fortran_int"] = npy(None, None, b"\0" * 4, header="{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }")
    seeds["not_dict"] = npy(None, None, b"\0" * 4, header="[1, 2, 3]")
    seeds["deep_nesting"] = npy(None, None, b"", header="(" * 200 + ")" * 200)
    seeds["unterminated"] = npy(None, None, b"", header="{'descr': '<f4")
    seeds["escape"] = npy(None, None, b"", header="{'descr': '<f\\4'}")
    seeds["bad_utf8"] = npy(None, None, b"", header=b"{'descr': '\xff\xfe'}")
    seeds["multibyte"] = npy(None, None, b"\0" * 4, header="{'descr': '<f4', 'é': 'ü', 'fortran_order': False, 'shape': (1,), }")
    seeds["trailing_text"] = npy(None, None, b"\0" * 4, header="{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x")
    seeds["bad_version"] = b"\x93NUMPY\x09\x00" + full[8:]
    seeds["not_npy"] = b"hello world, not numpy at all"
    seeds["magic_only"] = b"\x93NUMPY"
    seeds["empty_file"] = b""
    for name, data in seeds.items():
        with open(os.path.join(OUT, name + ".npy"), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


ST_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors_read")


def safetensors(tensors, data, pad=True, header=None):
    """A .safetensors file: an 8-byte little-endian header length, the JSON
    header (padded with spaces to a multiple of 8, as the libraries write it),
    then the data. `tensors`: name -> (dtype, shape, [begin, end])."""
    if header is None:
        header = json.dumps({n: {"dtype": d, "shape": s, "data_offsets": o} for n, (d, s, o) in tensors.items()}, separators=(",", ":"))
    h = header.encode("utf-8") if isinstance(header, str) else header
    if pad:
        h = h + b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def main_safetensors():
    os.makedirs(ST_OUT, exist_ok=True)
    seeds = {}
    f32 = pack("<f", [1.5, -0.0, float("nan"), float("inf"), -2.25, 3.0])
    seeds["f32_2x3"] = safetensors({"x": ("F32", [2, 3], [0, 24])}, f32)
    seeds["f64_i64"] = safetensors({"a": ("F64", [2], [0, 16]), "b": ("I64", [2], [16, 32])}, pack("<d", [1.0, 2.0]) + pack("<q", [3, -1]))
    seeds["f16_bf16_i32"] = safetensors(
        {"h": ("F16", [2], [0, 4]), "b": ("BF16", [2], [4, 8]), "i": ("I32", [2], [8, 16])},
        pack("<H", [0x3C00, 0x7E00]) + pack("<H", [0x3F80, 0xC000]) + pack("<i", [7, -8]),
    )
    seeds["misaligned"] = safetensors({"x": ("F64", [1], [0, 8])}, pack("<d", [1.0]), pad=False)
    seeds["scalar_and_empty"] = safetensors({"s": ("F32", [], [0, 4]), "e": ("F32", [0, 3], [4, 4])}, pack("<f", [2.5]))
    seeds["metadata"] = safetensors(None, pack("<f", [1.0]), header='{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    seeds["unsupported_u8"] = safetensors({"u": ("U8", [2], [0, 2])}, b"\x01\x02")
    seeds["empty_header"] = safetensors({}, b"")
    # Hostile ones.
    seeds["lying_shape"] = safetensors({"x": ("F32", [10**11], [0, 4 * 10**11])}, b"\0" * 8)
    seeds["overflow_shape"] = safetensors({"x": ("F32", [2**32, 2**32, 2**32], [0, 8])}, b"\0" * 8)
    seeds["size_mismatch"] = safetensors({"x": ("F64", [2, 3], [0, 24])}, b"\0" * 24)
    seeds["gap"] = safetensors({"x": ("F32", [1], [4, 8])}, b"\0" * 8)
    seeds["overlap"] = safetensors({"a": ("F32", [2], [0, 8]), "b": ("F32", [2], [4, 12])}, b"\0" * 12)
    seeds["reversed_offsets"] = safetensors({"x": ("F32", [0], [8, 0])}, b"\0" * 8)
    seeds["unknown_dtype"] = safetensors({"x": ("F128", [1], [0, 16])}, b"\0" * 16)
    seeds["subbyte_f4"] = safetensors({"x": ("F4", [3], [0, 2])}, b"\0" * 2)
    seeds["truncated"] = seeds["f32_2x3"][:-5]
    seeds["trailing"] = seeds["f32_2x3"] + b"\0" * 4
    seeds["header_len_huge"] = struct.pack("<Q", 2**63) + b"{}"
    seeds["header_len_past_end"] = struct.pack("<Q", 64) + b"{}"
    seeds["not_json"] = safetensors(None, b"", header="{not json")
    seeds["json_array"] = safetensors(None, b"", header="[1,2,3]")
    seeds["bad_utf8"] = safetensors(None, b"", header=b'{"\xff\xfe":1}')
    seeds["shape_negative"] = safetensors(None, b"", header='{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}')
    seeds["missing_field"] = safetensors(None, b"", header='{"x":{"dtype":"F32","shape":[0]}}')
    seeds["deep_nesting"] = safetensors(None, b"", header="{" + '"a":[' * 200 + "]" * 200 + "}")
    seeds["short"] = b"\x02\0\0"
    seeds["empty_file"] = b""
    for name, data in seeds.items():
        with open(os.path.join(ST_OUT, name + ".safetensors"), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), ST_OUT))


if __name__ == "__main__":
    main()
    main_safetensors()
