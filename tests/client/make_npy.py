#!/usr/bin/python3
"""Writes .npy test files with NumPy, for tests/client/npy_test.cc.

  make_npy.py write DIR    every dtype x byte order x order x shape, plus
                           format versions 2.0 and 3.0; NAME.npy holds the
                           array, NAME.bin its little-endian C-order bytes
                           and NAME.shape its shape ("2,3,4"; "" for 0-d)
  make_npy.py check DIR    loads every DIR/out_NAME.npy that the C++ side
                           wrote and compares it with DIR/out_NAME.bin and
                           the shape in DIR/NAME.shape
"""
import os
import sys

import numpy as np

CODES = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]
SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


def values(code, shape):
    n = int(np.prod(shape)) if shape else 1
    base = np.arange(n, dtype=np.float64) * 1.25 - 7.5
    if code[0] == "u":
        base = np.abs(base) * 3
    return base.reshape(shape).astype(code)


def write(directory):
    count = 0
    for code in CODES:
        for order_char in "<>":
            for fortran in (False, True):
                for shape in SHAPES:
                    array = values(code, shape)
                    typed = array.astype(np.dtype(code).newbyteorder(order_char))
                    if fortran:
                        typed = np.asfortranarray(typed)
                    name = f"{code}_{'be' if order_char == '>' else 'le'}_" \
                           f"{'F' if fortran else 'C'}_{len(shape)}d"
                    np.save(os.path.join(directory, name + ".npy"), typed)
                    with open(os.path.join(directory, name + ".shape"), "w") as f:
                        f.write(",".join(str(d) for d in typed.shape))
                    with open(os.path.join(directory, name + ".bin"), "wb") as f:
                        f.write(array.astype(np.dtype(code).newbyteorder("<"))
                                .tobytes(order="C"))
                    count += 1
    for version in ((2, 0), (3, 0)):
        array = values("f4", (3, 4))
        name = f"version_{version[0]}"
        with open(os.path.join(directory, name + ".npy"), "wb") as f:
            np.lib.format.write_array(f, array, version=version)
        with open(os.path.join(directory, name + ".bin"), "wb") as f:
            f.write(array.astype("<f4").tobytes())
        count += 1
    print(f"wrote {count} arrays")


def check(directory):
    names = sorted(n[:-4] for n in os.listdir(directory)
                   if n.startswith("out_") and n.endswith(".npy"))
    failed = 0
    for name in names:
        array = np.load(os.path.join(directory, name + ".npy"))
        expected = open(os.path.join(directory, name + ".bin"), "rb").read()
        with open(os.path.join(directory, name[4:] + ".shape")) as f:
            text = f.read()
        shape = tuple(int(d) for d in text.split(",")) if text else ()
        code = name.split("_")[1]
        want = np.dtype(code).newbyteorder("<")
        if array.dtype != want or not array.flags["C_CONTIGUOUS"] or \
                array.shape != shape or \
                array.astype(want).tobytes() != expected:
            print(f"FAIL {name}: dtype {array.dtype} shape {array.shape}, "
                  f"want {want} {shape}")
            failed += 1
    print(f"checked {len(names)} arrays, {failed} failed")
    return 1 if failed or not names else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2]))
