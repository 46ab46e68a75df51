# an arc that cuts across a line of its own loop: self-intersecting profile
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(2.0, 0.0).lineTo(2.0, 1.0).threePointArc((1.0, -0.5), (0.0, 1.0)).close()
solid0=wp_sketch0.add(loop0).extrude(0.5)
solid=solid0
