"""`bench_detect.py phantoms` at thin slices with the blob measure's thin-slice merge on, then off.

OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/research/speed11/merge_bench.py 300 256 256 8
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import ctviewer.anomaly.shape as shape  # noqa: E402
from benchmarks.bench_detect import lesion_quality  # noqa: E402

dims = tuple(int(v) for v in sys.argv[1:4])
volumes = int(sys.argv[4])
for merge in (True, False):
    shape.MERGE_THIN = merge
    start = time.time()
    row = lesion_quality(None, volumes, dims, 2.5)
    row["merge_thin"], row["seconds"] = merge, round(time.time() - start)
    print(json.dumps(row), flush=True)
