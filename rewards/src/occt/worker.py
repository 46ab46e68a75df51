"""cadrl OCCT worker: runs untrusted CadQuery programs, one JSON line per job.

Started by the Rust pool (rewards/src/occt/pool.rs) inside its sandbox (own process
group, rlimits, user + network namespace and Landlock where the kernel allows, a
private empty working directory). This script is the *extra* layer inside Python:

* the protocol goes over a private duplicate of the original stdout; fds 0-2 are
  /dev/null for the program, and `sys.stdout`/`sys.stderr` are bounded buffers (a
  program that prints too much fails with a clear error and cannot garble replies);
* CadQuery is imported once, before any program runs (the Rust side never forks
  this process; it spawns fresh ones);
* programs run with a reduced set of builtins (no open/exec/eval/compile/input) and
  an import hook that admits only a few modules, and an audit hook refuses process,
  socket, ctypes and file-system events, and file opens outside the Python install.

Request:  {"id": int, "code": str, "var": str, "tol": float, "ang": float}
Reply:    {"id", "kind": "valid"|"syntax_error"|"exec_error", "message", "line",
           "col", "is_valid", "volume", "area", "bbox": [6], "verts": [3n],
           "tris": [3m], "faces": [m]}
"""
import builtins
import json
import os
import sys

PROTO = os.fdopen(os.dup(1), "w", encoding="utf-8")
REQS = os.fdopen(os.dup(0), "r", encoding="utf-8")
_null = os.open(os.devnull, os.O_RDWR)
for _fd in (0, 1, 2):
    os.dup2(_null, _fd)


def send(obj):
    PROTO.write(json.dumps(obj, allow_nan=False) + "\n")
    PROTO.flush()


try:
    import cadquery as cq
    from OCP.BRep import BRep_Tool
    from OCP.BRepClass3d import BRepClass3d_SolidClassifier
    from OCP.BRepMesh import BRepMesh_IncrementalMesh
    from OCP.gp import gp_Pnt
    from OCP.TopAbs import TopAbs_EDGE, TopAbs_IN, TopAbs_REVERSED, TopAbs_VERTEX
    from OCP.TopExp import TopExp, TopExp_Explorer
    from OCP.TopLoc import TopLoc_Location
    from OCP.TopoDS import TopoDS
    from OCP.TopTools import TopTools_IndexedMapOfShape
except BaseException as e:  # noqa: BLE001
    send({"fatal": f"importing cadquery failed: {type(e).__name__}: {e}"})
    sys.exit(3)

OUTPUT_LIMIT = int(os.environ.get("CADRL_OUTPUT_LIMIT", "1000000"))
# "0" turns the Python layer off (tests use it to show what the OS layer holds alone)
PY_LAYER = os.environ.get("CADRL_SANDBOX_PY", "1") != "0"
SCRATCH = os.getcwd()
PREFIXES = tuple({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)})
ALLOWED_MODULES = {"cadquery", "math", "cmath", "itertools", "functools", "collections", "copy", "random", "typing", "numbers", "operator", "fractions", "decimal"}
BLOCKED_EVENT_PREFIXES = (
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg",
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.truncate", "os.chmod",
    "os.chown", "os.chdir", "os.putenv", "os.unsetenv", "os.listdir", "os.scandir", "os.startfile",
    "subprocess.", "socket.", "ctypes.", "shutil.", "pty.", "signal.", "resource.", "mmap.", "sqlite3.",
    "urllib.", "http.", "ftplib.", "smtplib.", "telnetlib.", "webbrowser.", "msvcrt.", "winreg.", "_winapi.",
    "sys._getframe", "sys.settrace", "sys.setprofile", "sys.addaudithook", "gc.get_referrers", "gc.get_objects",
)
ACTIVE = [False]


class Refused(PermissionError):
    pass


class OutputLimit(Exception):
    pass


def audit(event, args):
    if not ACTIVE[0]:
        return
    if event.startswith(BLOCKED_EVENT_PREFIXES):
        raise Refused(f"sandbox: {event} is not allowed")
    if event == "open":
        path, mode = args[0], args[1] if len(args) > 1 else "r"
        if not isinstance(path, str):
            raise Refused("sandbox: opening file descriptors is not allowed")
        real = os.path.realpath(path)
        writing = mode is not None and any(c in str(mode) for c in "wax+")
        inside_py = real.startswith(PREFIXES)
        if writing or not inside_py:
            raise Refused(f"sandbox: open({path!r}) is not allowed")


class Bounded:
    """A text stream that keeps at most OUTPUT_LIMIT characters, then raises."""

    def __init__(self):
        self.n = 0

    def write(self, s):
        self.n += len(s)
        if self.n > OUTPUT_LIMIT:
            raise OutputLimit(f"the program printed more than {OUTPUT_LIMIT} characters")
        return len(s)

    def flush(self):
        pass


_real_import = builtins.__import__


def safe_import(name, globals=None, locals=None, fromlist=(), level=0):
    root = name.split(".")[0]
    if level != 0 or root not in ALLOWED_MODULES:
        raise ImportError(f"sandbox: import of '{name}' is not allowed")
    return _real_import(name, globals, locals, fromlist, level)


def _refuse(name):
    def f(*a, **k):
        raise Refused(f"sandbox: {name}() is not allowed")
    return f


SAFE_BUILTINS = {k: v for k, v in vars(builtins).items() if k not in {"open", "exec", "eval", "compile", "input", "breakpoint", "help", "__import__", "exit", "quit", "globals", "vars", "memoryview", "__loader__", "__spec__"}}
SAFE_BUILTINS["__import__"] = safe_import
for _n in ("open", "exec", "eval", "compile", "input", "breakpoint", "globals", "vars"):
    SAFE_BUILTINS[_n] = _refuse(_n)


def result_shape(value, var):
    """The shape the result variable stands for (as the oracle's truth.py)."""
    if isinstance(value, cq.Workplane):
        shapes = [v for v in value.vals() if isinstance(v, cq.Shape)]
        if not [s for sh in shapes for s in sh.Solids()]:
            kinds = sorted({type(v).__name__ for v in value.vals()}) or ["nothing"]
            if any(isinstance(v, cq.Compound) for v in value.vals()):
                raise LookupError("the result is an empty solid (the compound holds no solid)")
            raise LookupError(f"the result is not a solid: the workplane holds {', '.join(kinds)}")
        return shapes[0] if len(shapes) == 1 else shapes[0].fuse(*shapes[1:])
    if isinstance(value, cq.Shape):
        if not value.Solids():
            raise LookupError(f"the result is an empty solid ({type(value).__name__} with no solid)")
        return value
    raise LookupError(f"the result is not a solid: `{var}` is a {type(value).__name__}")


_ORIG_BOOL_OP = cq.Shape._bool_op


# what a boolean keeps of a point, from whether it is inside the first and the second operand
_KEEPS = {
    "BRepAlgoAPI_Common": lambda ia, ib: ia and ib,
    "BRepAlgoAPI_Cut": lambda ia, ib: ia and not ib,
    "BRepAlgoAPI_Fuse": lambda ia, ib: ia or ib,
}


def _inside(classifiers, p):
    for c in classifiers:
        c.Perform(p, 1e-9)
        if c.State() == TopAbs_IN:
            return True
    return False


def _misclassified(kind, a, b, r):
    """Points of a 5x5x5 set over the box where the boolean can hold material (the
    operands' overlap for a Common, the first operand's box for a Cut, both for a Fuse)
    that OCCT's own classifier puts inside the result but not in what the operands say,
    or the other way round."""
    box = lambda solids: cq.Compound.makeCompound(solids).BoundingBox()
    ba, bb = box(a), box(b)
    if kind == "BRepAlgoAPI_Common":
        lo = (max(ba.xmin, bb.xmin), max(ba.ymin, bb.ymin), max(ba.zmin, bb.zmin))
        hi = (min(ba.xmax, bb.xmax), min(ba.ymax, bb.ymax), min(ba.zmax, bb.zmax))
    elif kind == "BRepAlgoAPI_Cut":
        lo, hi = (ba.xmin, ba.ymin, ba.zmin), (ba.xmax, ba.ymax, ba.zmax)
    else:
        lo = (min(ba.xmin, bb.xmin), min(ba.ymin, bb.ymin), min(ba.zmin, bb.zmin))
        hi = (max(ba.xmax, bb.xmax), max(ba.ymax, bb.ymax), max(ba.zmax, bb.zmax))
    ext = [h - l for l, h in zip(lo, hi)]
    if min(ext) <= 1e-9 * max(max(ext), 1e-300):
        return 0
    keeps = _KEEPS[kind]
    ca, cb, cr = ([BRepClass3d_SolidClassifier(s.wrapped) for s in x] for x in (a, b, r))
    # per axis a different low-discrepancy sequence: no probe plane or diagonal through
    # the box that the faces of two parts touching each other could hold
    seq = [[(start + step * n) % 1.0 for n in range(5)] for start, step in ((0.131, 0.6180339887), (0.173, 0.7548776662), (0.219, 0.5698402909))]
    bad = 0
    for fx in seq[0]:
        for fy in seq[1]:
            for fz in seq[2]:
                p = gp_Pnt(lo[0] + fx * ext[0], lo[1] + fy * ext[1], lo[2] + fz * ext[2])
                if keeps(_inside(ca, p), _inside(cb, p)) != _inside(cr, p):
                    bad += 1
    return bad


_VERB = {"BRepAlgoAPI_Common": "intersect", "BRepAlgoAPI_Cut": "cut", "BRepAlgoAPI_Fuse": "union"}


def checked_bool_op(self, args, tools, op, parallel=True):
    """CadQuery's boolean, refusing failures OCCT does not report (seen on valid solids:
    a Common that returns nothing or a sliver of the overlap, a Cut that removes nothing):
    the result must agree with OCCT's own point classification of the operands at sample
    points. With `findSolid` passing over an empty result, everything after such a failure
    would be built on the wrong solid."""
    args, tools = list(args), list(tools)
    r = _ORIG_BOOL_OP(self, args, tools, op, parallel)
    kind = type(op).__name__
    a = [x for s in args if isinstance(s, cq.Shape) for x in s.Solids()]
    b = [x for s in tools if isinstance(s, cq.Shape) for x in s.Solids()]
    if kind in _KEEPS and a and b:
        bad = _misclassified(kind, a, b, r.Solids())
        if bad >= 3:
            raise RuntimeError(f"OCCT boolean failure: the {_VERB[kind]} disagrees with OCCT's own point classification of its operands at {bad} of 125 sample points")
    return r


cq.Shape._bool_op = checked_bool_op


def invalid_intermediate(ns):
    """The name of a variable whose workplane (or one up its parent chain) holds a
    solid that OCCT itself finds invalid, or None. OCCT builds such solids from
    crossing loops and the like, and booleans on them are not ground truth: a valid
    final result computed from one is reported as invalid too."""
    seen = set()
    for name, value in list(ns.items()):
        wp = value if isinstance(value, cq.Workplane) else None
        shapes = [value] if isinstance(value, cq.Shape) else []
        while wp is not None and id(wp) not in seen:
            seen.add(id(wp))
            shapes.extend(v for v in wp.objects if isinstance(v, cq.Shape))
            wp = wp.parent
        for sh in shapes:
            if id(sh) in seen:
                continue
            seen.add(id(sh))
            if sh.Solids() and not sh.isValid():
                return f"`{name}`"
    return None


def tessellate(shape, tol, ang):
    """Vertices, triangles (outward, counter-clockwise) and a face id per triangle.

    Watertight by construction: every triangulation node that lies on a B-rep edge
    takes one position per edge node (its vertex's point at the edge's ends), whatever
    face it comes from. Faces that meet at an edge are meshed from one discretisation
    of that edge, but each face computes the node's point from its own surface, and
    after booleans those differ by up to the edge's tolerance (1e-5 and more), far
    beyond what welding by distance may merge.
    """
    bb = shape.BoundingBox()
    diag = max(bb.DiagonalLength, 1e-9)
    BRepMesh_IncrementalMesh(shape.wrapped, tol * diag, False, ang, True)
    edges, vertices = TopTools_IndexedMapOfShape(), TopTools_IndexedMapOfShape()
    TopExp.MapShapes_s(shape.wrapped, TopAbs_EDGE, edges)
    TopExp.MapShapes_s(shape.wrapped, TopAbs_VERTEX, vertices)
    vpts = {}
    for i in range(1, vertices.Extent() + 1):
        p = BRep_Tool.Pnt_s(TopoDS.Vertex_s(vertices.FindKey(i)))
        vpts[i] = (p.X(), p.Y(), p.Z())
    canon = {}  # (edge, parameter) or ("v", vertex) -> point
    verts, tris, faces = [], [], []
    for fid, face in enumerate(shape.Faces()):
        loc = TopLoc_Location()
        tri = BRep_Tool.Triangulation_s(face.wrapped, loc)
        if tri is None:
            raise RuntimeError(f"face {fid} has no triangulation")
        trsf = loc.Transformation()
        pts = []
        for i in range(1, tri.NbNodes() + 1):
            p = tri.Node(i).Transformed(trsf)
            pts.append((p.X(), p.Y(), p.Z()))
        exp = TopExp_Explorer(face.wrapped, TopAbs_EDGE)
        while exp.More():
            edge = TopoDS.Edge_s(exp.Current())
            exp.Next()
            poly = BRep_Tool.PolygonOnTriangulation_s(edge, tri, loc)
            if poly is None:
                continue
            eid = edges.FindIndex(edge)
            ends = [vertices.FindIndex(v) for v in (TopExp.FirstVertex_s(edge), TopExp.LastVertex_s(edge))]
            m = poly.NbNodes()
            for k in range(1, m + 1):
                ni = poly.Node(k) - 1
                if k in (1, m):
                    # the nearer of the edge's vertices
                    q = pts[ni]
                    vid = min(ends, key=lambda v: sum((a - b) ** 2 for a, b in zip(vpts.get(v, q), q)))
                    key = ("v", vid)
                    canon.setdefault(key, vpts.get(vid, q))
                else:
                    key = (eid, round(poly.Parameter(k), 12) if poly.HasParameters() else k)
                    canon.setdefault(key, pts[ni])
                pts[ni] = canon[key]
        base = len(verts) // 3
        for p in pts:
            verts.extend(p)
        rev = face.wrapped.Orientation() == TopAbs_REVERSED
        for i in range(1, tri.NbTriangles() + 1):
            a, b, c = tri.Triangle(i).Get()
            if rev:
                b, c = c, b
            tris.extend((base + a - 1, base + b - 1, base + c - 1))
            faces.append(fid)
    return verts, tris, faces, bb


def run(req):
    rid, code, var = req["id"], req["code"], req.get("var", "solid")
    try:
        compiled = compile(code, "<program>", "exec", dont_inherit=True)
    except SyntaxError as e:
        return {"id": rid, "kind": "syntax_error", "message": f"{type(e).__name__}: {e.msg}", "line": e.lineno, "col": e.offset}
    except (ValueError, MemoryError, RecursionError) as e:
        return {"id": rid, "kind": "syntax_error", "message": f"{type(e).__name__}: {e}"}
    ns = {"__builtins__": SAFE_BUILTINS if PY_LAYER else builtins, "__name__": "__cadrl__"}
    sys.stdout, sys.stderr = Bounded(), Bounded()
    ACTIVE[0] = True
    try:
        exec(compiled, ns)
        if var not in ns:
            raise NameError(f"name '{var}' is not defined (the program never assigns it)")
        shape = result_shape(ns[var], var)
        valid = bool(shape.isValid())
        if not valid:
            return {"id": rid, "kind": "exec_error", "message": "the result is not a valid solid (OCCT isValid() fails; e.g. self-intersecting)"}
        bad = invalid_intermediate(ns)
        if bad is not None:
            return {"id": rid, "kind": "exec_error", "message": f"an intermediate solid is not valid (OCCT isValid() fails on {bad}): booleans on it are not ground truth"}
        verts, tris, faces, bb = tessellate(shape, req.get("tol", 5e-4), req.get("ang", 0.1))
        return {
            "id": rid, "kind": "valid", "is_valid": valid, "volume": shape.Volume(), "area": shape.Area(),
            "bbox": [bb.xmin, bb.ymin, bb.zmin, bb.xmax, bb.ymax, bb.zmax], "verts": verts, "tris": tris, "faces": faces,
        }
    except BaseException as e:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, OCCT errors...
        line = None
        tb = e.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<program>":
                line = tb.tb_lineno
            tb = tb.tb_next
        msg = f"{type(e).__name__}: {e}".strip()
        return {"id": rid, "kind": "exec_error", "message": msg[:2000], "line": line, "memory": isinstance(e, MemoryError)}
    finally:
        ACTIVE[0] = False
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__


def main():
    # warm up: touch the code paths programs use, so lazy imports happen before the hooks
    run({"id": -1, "code": "import cadquery as cq\nsolid = cq.Workplane('XY').circle(1).extrude(1).faces('>Z').workplane().hole(0.5).union(cq.Workplane('XZ').rect(1, 1).extrude(1))", "var": "solid"})
    if PY_LAYER:
        sys.addaudithook(audit)
    send({"ready": True, "pid": os.getpid()})
    for line in REQS:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError:
            send({"fatal": "bad request line"})
            return
        try:
            send(run(req))
        except (ValueError, TypeError) as e:  # e.g. NaN in the mesh
            send({"id": req.get("id"), "kind": "exec_error", "message": f"the result cannot be reported: {e}"})


main()
