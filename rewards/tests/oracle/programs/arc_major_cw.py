# clockwise loop whose arc spans about 210 degrees (cw), on plane YZ
import cadquery as cq
solid = cq.Workplane("YZ").moveTo(0.0, 0.0).lineTo(0.0, 0.5).lineTo(1.0, 0.5).threePointArc((1.0 + 0.5, 0.0 - 0.366), (1.0, -0.5)).lineTo(0.0, -0.5).close().extrude(0.4)
