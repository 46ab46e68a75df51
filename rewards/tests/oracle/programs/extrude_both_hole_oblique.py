# both-sided extrude of a profile with a circular hole on an oblique plane
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.1, -0.2, 0.3), cq.Vector(0.0, 1.0, 0.0), cq.Vector(0.6, 0.0, 0.8)))
loop0=wp_sketch0.moveTo(-0.5, -0.5).lineTo(0.5, -0.5).threePointArc((0.8535533905932737, 0.0), (0.5, 0.5)).lineTo(-0.5, 0.5).close()
loop1=wp_sketch0.moveTo(0.0, 0.0).circle(0.2)
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.25, both=True)
solid=solid0
