# stadium slot: two semicircular arcs joined by lines, with a circular hole in one end
import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(0.0, 1.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(0.0, -0.5).lineTo(2.0, -0.5).threePointArc((2.5, 0.0), (2.0, 0.5)).lineTo(0.0, 0.5).threePointArc((-0.5, 0.0), (0.0, -0.5)).close()
loop1=wp_sketch0.moveTo(2.0, 0.0).circle(0.25)
solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.3)
solid=solid0
