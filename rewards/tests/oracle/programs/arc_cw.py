# counter-clockwise loop with a cw arc (bulging inwards, a notch)
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.0, 0.0).lineTo(2.0, 0.0).threePointArc((1.7, 0.5), (2.0, 1.0)).lineTo(0.0, 1.0).close().extrude(0.5)
