# a lineTo to the current point (zero-length edge)
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 1.0).close().extrude(1.0)
