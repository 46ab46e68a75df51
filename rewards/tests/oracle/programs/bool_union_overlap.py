# union of two overlapping prisms on perpendicular planes
import cadquery as cq
a = cq.Workplane("XY").rect(2.0, 1.0).extrude(1.0)
b = cq.Workplane("YZ", origin=(-0.5, 0.0, 0.0)).circle(0.4).extrude(2.0)
solid = a.union(b)
