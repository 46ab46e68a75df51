# rotated plane with normal (1,1,0) and xDir (1,-1,0): a loop with lines and an arc
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.1, 0.2, 0.3), cq.Vector(1.0, -1.0, 0.0), cq.Vector(1.0, 1.0, 0.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(1.0, 0.0).threePointArc((1.3, 0.5), (1.0, 1.0)).lineTo(0.0, 1.0).close()
solid0=wp_sketch0.add(loop0).extrude(0.4)
solid=solid0
