# cut with a workplane that holds no solid (only a pending sketch)
import cadquery as cq
a = cq.Workplane("XY").box(1.0, 1.0, 1.0)
b = cq.Workplane("XY").rect(0.5, 0.5)
solid = a.cut(b)
