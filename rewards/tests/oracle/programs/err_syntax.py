# a Python syntax error (unbalanced parenthesis)
import cadquery as cq
solid = cq.Workplane("XY").rect(1.0, 1.0.extrude(1.0)
