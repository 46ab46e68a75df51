# TypeError: extrude() with an unknown keyword argument
import cadquery as cq
solid = cq.Workplane("XY").rect(1.0, 1.0).extrude(1.0, height=2.0)
