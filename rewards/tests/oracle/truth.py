"""Ground truth for the oracle test: run every program in `programs/` with real
CadQuery/OCCT in one process and print one JSON line per program, then one per pair
listed in `pairs.txt`.

Program lines:
  {"name", "ok", "error", "is_valid", "volume", "bbox": [xmin, ymin, zmin, xmax, ymax, zmax],
   "centroid": [x, y, z], "n_solids"}   (centroid: volume-weighted over the solids)
`ok` is true when the program ran without raising *and* its result holds at least one
solid; `error` says why not ("<ExceptionType>: <message>", or "EmptyResult: ..." /
"NotASolid: ..." when it ran but left no solid). The result is `solid.val()`, or the
fusion of all the solids on the stack when there are several. The bounding box is
`Shape.BoundingBox()`, which in CadQuery 2.8 is `BRepBndLib::AddOptimal` on the exact
geometry (no triangulation margin, no shape tolerances added), so it is tight.

Pair lines:  {"pair": [a, b], "iou": vol(a & b) / vol(a | b), "inter", "union"}

Usage: truth.py [PROGRAMS_DIR [PAIRS_FILE]]   (defaults: beside this file)
"""

import json
import os
import sys
import traceback

import cadquery as cq  # imported once; every program reuses the module

HERE = os.path.dirname(os.path.abspath(__file__))


def result_shape(value):
    """The shape a program's `solid` stands for, or raise with the reason."""
    if isinstance(value, cq.Workplane):
        vals = value.vals()
        shapes = [v for v in vals if isinstance(v, cq.Shape)]
        solids = [s for sh in shapes for s in sh.Solids()]
        if not solids:
            kinds = sorted({type(v).__name__ for v in vals}) or ["nothing"]
            if any(isinstance(v, cq.Compound) for v in vals):
                raise LookupError("EmptyResult: the result compound holds no solid")
            raise LookupError(f"NotASolid: the workplane holds {', '.join(kinds)}")
        if len(shapes) == 1:
            return shapes[0]
        fused = shapes[0].fuse(*shapes[1:])
        return fused
    if isinstance(value, cq.Shape):
        if not value.Solids():
            raise LookupError(f"EmptyResult: the result {type(value).__name__} holds no solid")
        return value
    raise LookupError(f"NotASolid: `solid` is a {type(value).__name__}")


def run_one(name, src):
    rec = {"name": name, "ok": False, "error": None, "is_valid": False, "volume": None, "bbox": None, "centroid": None, "n_solids": 0}
    ns = {"__name__": "__oracle__"}
    try:
        code = compile(src, name, "exec")
        exec(code, ns)
        if "solid" not in ns:
            raise NameError("name 'solid' is not defined (the program never assigns it)")
        shape = result_shape(ns["solid"])
    except LookupError as e:
        rec["error"] = str(e)
        return rec, None
    except BaseException as e:  # noqa: BLE001 - OCCT raises all sorts of things
        rec["error"] = f"{type(e).__name__}: {e}".strip()
        return rec, None
    rec["ok"] = True
    rec["is_valid"] = bool(shape.isValid())
    rec["n_solids"] = len(shape.Solids())
    try:
        rec["volume"] = shape.Volume()
        bb = shape.BoundingBox()
        rec["bbox"] = [bb.xmin, bb.ymin, bb.zmin, bb.xmax, bb.ymax, bb.zmax]
        # Volume-weighted over the solids: OCCT's VolumeProperties on a compound of
        # disjoint solids returned a wrong centre of mass here (named_zx_xz.py).
        parts = shape.Solids()
        vs = [p.Volume() for p in parts]
        cs = [p.Center() for p in parts]
        tot = sum(vs)
        rec["centroid"] = [sum(v * getattr(c, a) for v, c in zip(vs, cs)) / tot for a in "xyz"]
    except Exception:  # noqa: BLE001 - invalid shapes may not measure
        rec["error"] = "measuring failed: " + traceback.format_exc(limit=1).strip().splitlines()[-1]
    return rec, shape


def main():
    prog_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "programs")
    pairs_file = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "pairs.txt")
    shapes = {}
    out = sys.stdout
    for fname in sorted(os.listdir(prog_dir)):
        if not fname.endswith(".py"):
            continue
        with open(os.path.join(prog_dir, fname), encoding="utf-8") as f:
            src = f.read()
        rec, shape = run_one(fname, src)
        if shape is not None:
            shapes[fname] = shape
        out.write(json.dumps(rec) + "\n")
        out.flush()
    if os.path.exists(pairs_file):
        with open(pairs_file, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                a, b = line.split()
                rec = {"pair": [a, b], "iou": None, "inter": None, "union": None, "error": None}
                try:
                    sa, sb = shapes[a], shapes[b]
                    inter = sa.intersect(sb).Volume()
                    union = sa.fuse(sb).Volume()
                    rec.update(iou=inter / union, inter=inter, union=union)
                except BaseException as e:  # noqa: BLE001
                    rec["error"] = f"{type(e).__name__}: {e}"
                out.write(json.dumps(rec) + "\n")
                out.flush()


if __name__ == "__main__":
    main()
