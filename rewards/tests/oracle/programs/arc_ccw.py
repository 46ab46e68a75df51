# counter-clockwise loop with a ccw arc (bulging outwards) of less than 180 degrees
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.0, 0.0).lineTo(2.0, 0.0).threePointArc((2.5, 0.5), (2.0, 1.0)).lineTo(0.0, 1.0).close().extrude(0.5)
