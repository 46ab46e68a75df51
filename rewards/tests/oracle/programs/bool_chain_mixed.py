# union, then cut, then intersect in one chain, on rotated and named planes
import cadquery as cq
a = cq.Workplane("XY").rect(3.0, 3.0).extrude(1.0)
b = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 1.0), cq.Vector(1.0, 1.0, 0.0), cq.Vector(0.0, 0.0, 1.0))).rect(1.0, 2.0).extrude(0.5)
c = cq.Workplane("ZX", origin=(0.0, -2.0, 0.25)).circle(0.3).extrude(4.0)
d = cq.Workplane("XY", origin=(0.0, 0.0, -1.0)).circle(1.4).extrude(3.0)
solid = a.union(b).cut(c).intersect(d)
