# a full circle made of two threePointArcs, with a square hole
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(1.0, 0.0).threePointArc((0.0, 1.0), (-1.0, 0.0)).threePointArc((0.0, -1.0), (1.0, 0.0)).close()
loop1=wp_sketch0.moveTo(-0.3, -0.3).lineTo(0.3, -0.3).lineTo(0.3, 0.3).lineTo(-0.3, 0.3).close()
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.5)
solid=solid0
