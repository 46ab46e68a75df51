# named planes "left" and "right" with origin=: an asymmetric L profile on each, extruded and unioned
import cadquery as cq
a = cq.Workplane("left", origin=(0.0, 0.0, 0.0)).moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 0.25).lineTo(0.25, 0.25).lineTo(0.25, 0.75).lineTo(0.0, 0.75).close().extrude(0.5)
b = cq.Workplane("right", origin=(2.5, 0.0, -1.0)).moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 0.25).lineTo(0.25, 0.25).lineTo(0.25, 0.75).lineTo(0.0, 0.75).close().extrude(-0.3)
solid = a.union(b)
