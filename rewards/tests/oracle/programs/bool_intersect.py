# intersection of a box and a cylinder on different planes
import cadquery as cq
a = cq.Workplane("XY").box(2.0, 2.0, 2.0)
b = cq.Workplane("XZ", origin=(0.0, 1.5, 0.0)).circle(1.2).extrude(3.0)
solid = a.intersect(b)
