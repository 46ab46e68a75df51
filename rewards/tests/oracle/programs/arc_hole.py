# a hole bounded by arcs (a lens) inside a rectangle
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, 0.0).lineTo(3.0, 0.0).lineTo(3.0, 2.0).lineTo(0.0, 2.0).close()
loop1=wp_sketch0.moveTo(1.0, 1.0).threePointArc((1.5, 1.4), (2.0, 1.0)).threePointArc((1.5, 0.6), (1.0, 1.0)).close()
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.4)
solid=solid0
