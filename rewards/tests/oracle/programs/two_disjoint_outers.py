# two disjoint outer loops in one sketch: one extrude makes two solids
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(1.0, 0.0).lineTo(1.0, 1.0).lineTo(0.0, 1.0).close()
loop1=wp_sketch0.moveTo(2.0, 0.0).lineTo(3.0, 0.0).lineTo(3.0, 0.5).threePointArc((2.5, 1.0), (2.0, 0.5)).close()
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.5)
solid=solid0
