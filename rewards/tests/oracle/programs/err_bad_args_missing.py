# TypeError: rect() called with one argument
import cadquery as cq
solid = cq.Workplane("XY").rect(1.0).extrude(1.0)
