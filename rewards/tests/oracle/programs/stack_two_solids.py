# the result workplane holds two separate solids on its stack (via add)
import cadquery as cq
a = cq.Workplane("XY").rect(1.0, 1.0).extrude(1.0)
b = cq.Workplane("XY", origin=(2.0, 0.0, 0.0)).circle(0.5).extrude(0.5)
solid = a.add(b)
