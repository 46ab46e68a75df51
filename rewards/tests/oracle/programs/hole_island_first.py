# island and hole listed before the outer loop, on a rotated plane
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.5, -0.5, 1.0), cq.Vector(0.0, 0.0, 1.0), cq.Vector(1.0, 0.0, 0.0)))
loop0=wp_sketch0.moveTo(2.0, 2.0).circle(0.5)
loop1=wp_sketch0.moveTo(1.0, 1.0).lineTo(3.0, 1.0).lineTo(3.0, 3.0).lineTo(1.0, 3.0).close()
loop2=wp_sketch0.moveTo(0.0, 0.0).lineTo(4.0, 0.0).lineTo(4.0, 4.0).lineTo(0.0, 4.0).close()
solid0=wp_sketch0.add(loop0).add(loop1).add(loop2).extrude(0.5)
solid=solid0
