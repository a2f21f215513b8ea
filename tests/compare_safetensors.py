"""Compares two safetensors files' tensors (tests/check_launch.sh): the
same names, and every value within 1% relative (1e-3 absolute near 0).
Prints the worst relative difference; exits 1 past the tolerance.

    python3 tests/compare_safetensors.py A.safetensors B.safetensors
"""

import json, struct, sys
import numpy as np
def tensors(path):
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    return {name: np.frombuffer(body[v["data_offsets"][0]:v["data_offsets"][1]],
                                dtype={"F32": np.float32, "I64": np.int64,
                                       "I32": np.int32}[v["dtype"]])
            for name, v in header.items() if name != "__metadata__"}
one, two = tensors(sys.argv[1]), tensors(sys.argv[2])
assert one.keys() == two.keys(), "different tensors"
worst = max(float(np.max(np.abs(one[k].astype(np.float64) - two[k]) /
                         (1e-3 + np.abs(one[k].astype(np.float64)))))
            for k in one)
print("worst relative difference %.2e over %d tensors" % (worst, len(one)))
sys.exit(0 if worst < 1e-2 else 1)
