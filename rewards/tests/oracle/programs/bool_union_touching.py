# union of two boxes that share a face (coplanar contact)
import cadquery as cq
a = cq.Workplane("XY").box(1.0, 1.0, 1.0, centered=False)
b = cq.Workplane("XY", origin=(1.0, 0.0, 0.0)).box(1.0, 0.5, 0.5, centered=False)
solid = a.union(b)
