# cut by a tool that contains the whole base: the result is empty (must be an error)
import cadquery as cq
a = cq.Workplane("XY").box(1.0, 1.0, 1.0)
b = cq.Workplane("XY").box(2.0, 2.0, 2.0)
solid = a.cut(b)
