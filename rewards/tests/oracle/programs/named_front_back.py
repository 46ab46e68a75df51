# named planes "front" and "back" with origin=: an asymmetric L profile on each, extruded and unioned
import cadquery as cq
a = cq.Workplane("front", origin=(0.0, 0.0, 0.0)).moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 0.25).lineTo(0.25, 0.25).lineTo(0.25, 0.75).lineTo(0.0, 0.75).close().extrude(0.5)
b = cq.Workplane("back", origin=(2.0, 2.0, 2.0)).moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 0.25).lineTo(0.25, 0.25).lineTo(0.25, 0.75).lineTo(0.0, 0.75).close().extrude(-0.3)
solid = a.union(b)
