# rotated plane (normal (0,-1,1)), hole loop added before the outer loop, arc > 180 degrees in the outer
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.3, 0.0, -0.2), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, -1.0, 1.0)))
loop0=wp_sketch0.moveTo(0.5, 0.5).lineTo(0.7, 0.5).lineTo(0.7, 0.7).lineTo(0.5, 0.7).close()
loop1=wp_sketch0.moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 1.0).threePointArc((0.5, 1.6), (0.0, 1.0)).close()
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.3)
solid=solid0
