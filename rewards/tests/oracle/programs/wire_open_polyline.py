# .wire() on an open polyline, then extrude: an open wire cannot bound a face
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 1.0).lineTo(0.0, 1.0).wire().extrude(1.0)
