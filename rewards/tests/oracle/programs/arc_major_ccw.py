# arc of about 310 degrees, traversed ccw, closing a keyhole-like outline
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.0, -0.3).lineTo(1.0, -0.3).threePointArc((1.0 + 0.70710678, 0.70710678), (1.0, 0.3)).lineTo(0.0, 0.3).close().extrude(0.25)
