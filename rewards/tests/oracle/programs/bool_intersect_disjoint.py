# intersection of two disjoint solids: empty (must be an error)
import cadquery as cq
a = cq.Workplane("XY").box(1.0, 1.0, 1.0)
b = cq.Workplane("XY", origin=(5.0, 0.0, 0.0)).circle(0.5).extrude(1.0)
solid = a.intersect(b)
