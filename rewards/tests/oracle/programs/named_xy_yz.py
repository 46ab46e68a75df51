# named planes "XY" and "YZ" with origin=: an asymmetric L profile on each, extruded and unioned
import cadquery as cq
a = cq.Workplane("XY", origin=(0.1, 0.2, 0.3)).moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 0.25).lineTo(0.25, 0.25).lineTo(0.25, 0.75).lineTo(0.0, 0.75).close().extrude(0.5)
b = cq.Workplane("YZ", origin=(3.0, 0.0, 0.0)).moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 0.25).lineTo(0.25, 0.25).lineTo(0.25, 0.75).lineTo(0.0, 0.75).close().extrude(-0.3)
solid = a.union(b)
