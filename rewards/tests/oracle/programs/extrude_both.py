# both-sided extrude on a rotated plane
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.5, 0.0), cq.Vector(0.0, 0.0, 1.0), cq.Vector(0.0, 1.0, 0.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(1.0, 0.0).threePointArc((1.2, 0.4), (1.0, 0.8)).lineTo(0.0, 0.8).close()
solid0=wp_sketch0.add(loop0).extrude(0.3, both=True)
solid=solid0
