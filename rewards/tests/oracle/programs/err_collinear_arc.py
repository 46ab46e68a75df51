# threePointArc through three collinear points
import cadquery as cq
solid = cq.Workplane("XY").moveTo(0.0, 0.0).lineTo(1.0, 0.0).threePointArc((1.0, 0.5), (1.0, 1.0)).lineTo(0.0, 1.0).close().extrude(1.0)
