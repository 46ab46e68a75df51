"""Plain in-process CadQuery loop, the baseline of benches/occt_pool.rs.

Reads JSON lines {"code": ...} on stdin; after importing cadquery once, runs every
program `reps` times doing what a pool worker does for a job, minus the pool
(process, pipes, JSON, sandbox): exec, the result's shape, isValid, volume, area,
bounding box and the same tessellation. Prints {"import_s", "per_job_s"} with the
best per-job time over the repetitions.
"""
import json
import sys
import time

t0 = time.perf_counter()
import cadquery as cq  # noqa: E402
from OCP.BRep import BRep_Tool  # noqa: E402
from OCP.BRepMesh import BRepMesh_IncrementalMesh  # noqa: E402
from OCP.TopLoc import TopLoc_Location  # noqa: E402

import_s = time.perf_counter() - t0


def job(code):
    ns = {}
    exec(compile(code, "<program>", "exec"), ns)  # trusted benchmark input: the fixture programs
    v = ns["solid"]
    shapes = [s for s in v.vals() if isinstance(s, cq.Shape)]
    shape = shapes[0] if len(shapes) == 1 else shapes[0].fuse(*shapes[1:])
    if not shape.isValid():
        return None
    bb = shape.BoundingBox()
    vol, area = shape.Volume(), shape.Area()
    BRepMesh_IncrementalMesh(shape.wrapped, 5e-4 * max(bb.DiagonalLength, 1e-9), False, 0.1, True)
    n = 0
    for f in shape.Faces():
        loc = TopLoc_Location()
        t = BRep_Tool.Triangulation_s(f.wrapped, loc)
        if t is None:
            raise RuntimeError("a face has no triangulation")
        tr = loc.Transformation()
        pts = [t.Node(i).Transformed(tr) for i in range(1, t.NbNodes() + 1)]
        xs = [(p.X(), p.Y(), p.Z()) for p in pts]
        tris = [t.Triangle(i).Get() for i in range(1, t.NbTriangles() + 1)]
        n += len(xs) + len(tris)
    return vol, area, n


codes = [json.loads(l)["code"] for l in sys.stdin if l.strip()]
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
best = None
for _ in range(reps):
    t = time.perf_counter()
    for c in codes:
        try:  # as a worker does: a failing program is an outcome, not the end
            job(c)
        except Exception:  # noqa: BLE001
            pass
    dt = (time.perf_counter() - t) / len(codes)
    best = dt if best is None else min(best, dt)
print(json.dumps({"import_s": import_s, "per_job_s": best}))
